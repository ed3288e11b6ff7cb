"""Files for the `deepaid explain` example: a trained autoencoder's weights, normal rows and alert rows."""

import pandas as pd
from safetensors.torch import save_file

from deepaid_sdk.bench.synthetic import manifold_data, train_autoencoder

normal, alerts, _ = manifold_data(2000, 100, width=20, latent=3, shifted=2, seed=0)
ae = train_autoencoder(normal, epochs=30, seed=0)  # the architecture of deepaid_sdk.bench.synthetic:mlp_autoencoder
save_file(ae.state_dict(), "ae.safetensors")
columns = [f"f{i}" for i in range(20)]
pd.DataFrame(normal, columns=columns).to_csv("normal.csv", index=False)
pd.DataFrame(alerts, columns=columns).assign(alert_id=[f"a{i}" for i in range(100)]).to_csv("alerts.csv", index=False)
print("wrote ae.safetensors, normal.csv, alerts.csv")
