"""Shared fixtures of the deeplog plugin tests (names prefixed ``deeplog_``)."""

from __future__ import annotations

import pytest
import torch

from deepaid_plugin_deeplog.experiment import ExperimentConfig, run_experiment

#: A small, fast experiment: enough for DeepLog to learn the workflow and raise alerts.
SMALL = ExperimentConfig(n_train=400, n_test=200, anomaly_rate=0.4, hidden=32, layers=1, epochs=25, seed=3)


@pytest.fixture(scope="session")
def deeplog_experiment():
    torch.manual_seed(0)
    return run_experiment(SMALL, cache=False)


@pytest.fixture(scope="session")
def deeplog_alerts(deeplog_experiment):
    """``[N, W+1]`` alerting test sequences (window + next key) at the experiment's top-g."""
    ex = deeplog_experiment
    alerts = ex.test.sequences[ex.flags]
    assert len(alerts) >= 40, "the tests slice up to 40 alerts"
    return alerts
