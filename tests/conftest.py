"""Shared fixtures of the core tests: a tiny trained autoencoder and alert files for ``deepaid explain``."""

import pathlib

import numpy as np
import pytest

WIDTH = 6
MODEL_ARGS = {"width": WIDTH, "hidden": 12, "bottleneck": 3}
FACTORY = "deepaid_sdk.bench.synthetic:mlp_autoencoder"


class ExplainFiles:
    """A trained autoencoder saved as weights, its normal rows and alert rows as files."""

    def __init__(self, root: pathlib.Path) -> None:
        import pyarrow as pa
        import pyarrow.csv as pcsv
        import torch
        from safetensors.torch import save_file

        from deepaid_sdk.bench.synthetic import manifold_data, train_autoencoder

        torch.manual_seed(0)
        normal, anomalies, self.truth = manifold_data(256, 40, WIDTH, 2, 2, 0)
        self.model = train_autoencoder(normal, epochs=12, seed=0, hidden=12, bottleneck=3)
        self.root = root
        self.names = [f"f{i}" for i in range(WIDTH)]
        self.normal = normal.astype(np.float64)
        self.anomalies = anomalies.astype(np.float64)
        self.weights = root / "ae.safetensors"
        save_file(self.model.state_dict(), str(self.weights))
        self.table = pa.table(
            {
                "event": [f"e{i}" for i in range(len(anomalies))],
                "host": ["h"] * len(anomalies),
                **{n: self.anomalies[:, i] for i, n in enumerate(self.names)},
            }
        )
        self.csv = root / "alerts.csv"
        pcsv.write_csv(self.table, self.csv)
        self.normal_csv = root / "normal.csv"
        pcsv.write_csv(pa.table({n: self.normal[:, i] for i, n in enumerate(self.names)}), self.normal_csv)

    def model_options(self) -> dict:
        return {"model_args": dict(MODEL_ARGS), "weights": self.weights}

    def explain(self, output, input=None, **options):
        """``explain_file`` of the tabular preset on this model: the alerts (or ``input``), ``--normal``,
        ids from ``event``, chunks of 16, quiet; ``options`` add to or replace these."""
        from deepaid_sdk.explain import explain_file

        given = {"normal": self.normal_csv, "id_column": "event", "batch_size": 16, "quiet": True}
        given.update(self.model_options(), **options)
        return explain_file("tabular", FACTORY, input or self.csv, output, **given)

    def cli_args(self, *extra, input=None, output=None, normal=True, weights=None) -> list[str]:
        """``deepaid explain tabular`` on this model (``--input``/``--output``/``--normal`` where given or
        on), ids from ``event``, quiet, then ``extra``."""
        import json

        args = ["explain", "tabular", "--model", FACTORY, "--model-args", json.dumps(MODEL_ARGS)]
        args += ["--weights", str(weights or self.weights)]
        if input is not False:
            args += ["--input", str(input or self.csv)]
        if output is not None:
            args += ["--output", str(output)]
        if normal:
            args += ["--normal", str(self.normal_csv)]
        return [*args, "--id-column", "event", "--quiet", *extra]


@pytest.fixture(scope="session")
def explain_files(tmp_path_factory) -> ExplainFiles:
    return ExplainFiles(tmp_path_factory.mktemp("explain"))


def pytest_addoption(parser):
    parser.addoption(
        "--update-docs",
        action="store_true",
        default=False,
        help="rewrite the Markdown docs' output blocks from a real run (tests/test_docs_blocks.py)",
    )
