"""The reconstruction residual: the usual way to explain an autoencoder's alert."""

from __future__ import annotations

import time

from torch import Tensor

from deepaid_baselines.base import BaselineSearch, flat, top_k_mask
from deepaid_sdk.constraints import Constraint, changeable_mask
from deepaid_sdk.distances import Distance
from deepaid_sdk.model.adapters import ModelAdapter
from deepaid_sdk.results import InterpretationBatch


class ResidualSearch(BaselineSearch):
    """The K features with the largest ``|x - reconstruction|``, set to the reconstruction's values."""

    name = "residual"
    needs_reconstruction = True

    def _search(
        self, adapter: ModelAdapter, anomalies: Tensor, constraints: list[Constraint], distance: Distance
    ) -> InterpretationBatch:
        started = time.perf_counter()
        rec = self.reconstruction(adapter, anomalies)
        if rec is None:
            raise ValueError(
                f"adapter: the residual baseline needs a detector that reconstructs its input; "
                f"{type(adapter).__name__}.reconstruct returned None"
            )
        a = flat(anomalies)
        k = self.budget(constraints, a.shape[1])
        chosen = top_k_mask((flat(rec) - a).abs(), changeable_mask(constraints, anomalies), k)
        return self.finish(
            adapter, anomalies, chosen, rec, constraints, started=started, params={"k": k, "values": "reconstruction"}
        )
