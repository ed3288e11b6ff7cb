"""The deeplog search and preset: verified references, one-hot inputs, verdicts, batch = single."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import deepaid_sdk
from deepaid_plugin_deeplog.adapters import DeepLogAdapter
from deepaid_plugin_deeplog.experiment import RESERVED_KEYS
from deepaid_plugin_deeplog.preset import DeepLogInterpreter
from deepaid_plugin_deeplog.search import DeepLogSearch
from deepaid_plugin_deeplog.views import batch_tables, side_by_side
from deepaid_sdk import OneHotConstraint
from deepaid_sdk.registry import registry
from deepaid_sdk.testing import check_adapter, check_search


def _create(ex, **options):
    return deepaid_sdk.create(
        "deeplog",
        model=ex.model,
        num_candidates=ex.config.num_candidates,
        templates=ex.templates,
        **RESERVED_KEYS,
        **options,
    )


def test_registry_lists_the_plugins_components():
    reg = registry()
    for kind in ("searches", "adapters", "interpreters", "demos", "benchmarks"):
        assert reg.get(kind, "deeplog").provider == "deeplog"
    listed = reg.to_dict()["plugins"]
    mine = next(p for p in listed if p["name"] == "deeplog")
    assert mine["distribution"] == "deepaid-plugin-deeplog"


def test_preset_references_are_accepted_and_verified(deeplog_experiment, deeplog_alerts):
    ex, alerts = deeplog_experiment, deeplog_alerts
    assert len(alerts) >= 20
    interp = _create(ex, k=1)
    assert isinstance(interp, DeepLogInterpreter)
    batch = interp.interpret_batch(alerts[:, :-1], next_keys=alerts[:, -1])
    assert batch.references.dtype == np.int64 and batch.references.shape == alerts.shape
    np.testing.assert_array_equal(batch.anomalies, alerts)
    adapter = interp.adapter
    with torch.no_grad():
        scores = adapter.score(torch.as_tensor(batch.references)).numpy()
        normal = adapter.is_normal(torch.as_tensor(batch.references)).numpy()
    # The reported verdicts and scores are the model's own, recomputed here.
    np.testing.assert_array_equal(batch.flipped, normal)
    np.testing.assert_allclose(batch.reference_scores, scores, atol=1e-5)
    assert batch.flip_rate == 1.0
    assert all(len(c) == 1 for c in batch.changed)
    assert (batch.scores > 0).all()


def test_details_name_the_verdict_and_the_changed_templates(deeplog_experiment, deeplog_alerts):
    ex, alerts = deeplog_experiment, deeplog_alerts
    batch = _create(ex).interpret_batch(alerts[:, :-1], next_keys=alerts[:, -1])
    w = ex.config.window
    assert len(batch.details) == len(alerts) >= 40
    for i, d in enumerate(batch.details):
        pos = int(batch.changed[i][0])
        assert d["verdict"] == ("next key" if pos == w else "window")
        (change,) = d["changes"]
        assert change["position"] == pos
        assert change["anomaly_template"] == ex.templates[int(alerts[i, pos])]
        assert change["reference_template"] == ex.templates[int(batch.references[i, pos])]
        assert change["reference_key"] not in RESERVED_KEYS.values()
    json.dumps(batch.to_dict())
    assert "!=" in side_by_side(batch[0], ex.templates, details=batch.details[0])
    assert batch_tables(batch, ex.templates, rows=[0, 1]).count("top-g margin") == 2


def test_planted_position_is_found(deeplog_experiment):
    ex = deeplog_experiment
    chosen = ex.flags & ex.truth.any(axis=1)
    seqs = ex.test.sequences[chosen]
    batch = _create(ex).interpret_batch(seqs)
    first = np.asarray([c[0] for c in batch.changed])
    assert ex.truth[chosen][np.arange(len(first)), first].mean() >= 0.8


def test_every_model_input_is_one_hot(deeplog_experiment, deeplog_alerts):
    ex = deeplog_experiment
    seen = []

    class Recorder(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner, self.num_keys, self.window = inner, inner.num_keys, inner.window

        def forward(self, x):
            seen.append(x.detach().clone())
            return self.inner(x)

    interp = deepaid_sdk.create(
        "deeplog", model=Recorder(ex.model), num_candidates=ex.config.num_candidates, k=2, **RESERVED_KEYS
    )
    interp.interpret_batch(deeplog_alerts[:40])
    onehot = OneHotConstraint.rows(ex.config.window, ex.num_keys)
    assert len(seen) >= 2
    for x in seen:
        flat = x.reshape(x.shape[0], -1)
        assert bool(onehot.satisfied(flat, flat).all())


def test_batch_equals_single(deeplog_experiment, deeplog_alerts):
    interp = _create(deeplog_experiment, k=2)
    rows = deeplog_alerts[:12]
    batch = interp.interpret_batch(rows[:, :-1], next_keys=rows[:, -1])
    for i, row in enumerate(rows):
        one = interp.interpret(row[:-1], next_key=row[-1])
        np.testing.assert_array_equal(one.reference, batch.references[i])
        np.testing.assert_array_equal(one.changed, batch.changed[i])


def test_conformance_suite(deeplog_experiment, deeplog_alerts):
    ex = deeplog_experiment
    adapter = DeepLogAdapter(ex.model, num_candidates=ex.config.num_candidates, **RESERVED_KEYS)
    check_adapter(adapter, deeplog_alerts[:16])
    check_search(DeepLogSearch(), adapter, deeplog_alerts[:16], deepaid_sdk.build_constraints(k=1))


def test_normal_rows_come_back_unchanged(deeplog_experiment):
    ex = deeplog_experiment
    normal = ex.test.sequences[~ex.flags][:10]
    batch = _create(ex).interpret_batch(normal[:, :-1], next_keys=normal[:, -1])
    np.testing.assert_array_equal(batch.references, normal)
    assert batch.flipped.all() and all(d["verdict"] == "normal" for d in batch.details)


def test_k2_changes_at_most_two_positions_and_respects_frozen(deeplog_experiment, deeplog_alerts):
    ex = deeplog_experiment
    w = ex.config.window
    batch = _create(ex, k=2, search_options={"verdict": "window"}).interpret_batch(deeplog_alerts)
    assert all(len(c) <= 2 for c in batch.changed)
    frozen = _create(ex, k=2, frozen=[w]).interpret_batch(deeplog_alerts)
    assert not (frozen.references[:, w] != deeplog_alerts[:, w]).any()


class _Stubborn(nn.Module):
    """Prefers key 2 whatever the window: only a next key among its top g is ever accepted."""

    num_keys, window = 5, 3

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.tensor([0.0, 0.0, 5.0, 1.0, -5.0]))

    def forward(self, x):
        return self.bias.expand(x.shape[0], -1) + 0.0 * x.sum(dim=(1, 2))[:, None]


def test_only_verified_references_are_reported_as_accepted():
    x = np.array([[0, 1, 3, 4], [1, 1, 1, 4]])
    accepted = deepaid_sdk.create("deeplog", model=_Stubborn(), num_candidates=2).interpret_batch(x)
    assert accepted.flipped.all() and (accepted.references[:, 3] == 2).all()
    # With the next key frozen no window change helps: the result says so instead of claiming a flip.
    stuck = deepaid_sdk.create("deeplog", model=_Stubborn(), num_candidates=2, frozen=[3]).interpret_batch(x)
    assert not stuck.flipped.any()
    assert (stuck.reference_scores > 0).all()
    # Nothing may change at all: the anomaly comes back as it is, with verdict "none".
    frozen = deepaid_sdk.create("deeplog", model=_Stubborn(), num_candidates=2, frozen=[0, 1, 2, 3])
    none = frozen.interpret_batch(x)
    np.testing.assert_array_equal(none.references, x)
    assert not none.flipped.any() and {d["verdict"] for d in none.details} == {"none"}


def test_interpreter_input_errors(deeplog_experiment):
    interp = _create(deeplog_experiment)
    w, c = deeplog_experiment.config.window, deeplog_experiment.num_keys
    with pytest.raises(ValueError, match="windows: key ids"):
        interp.interpret_batch(np.full((2, w), c), next_keys=np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match=f"built for windows of {w} keys"):
        interp.interpret_batch(np.zeros((2, w - 1), dtype=np.int64), next_keys=np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match=r"window: expected one window of key ids \[W\]"):
        interp.interpret(np.zeros((2, w), dtype=np.int64), next_key=0)
    with pytest.raises(ValueError, match="next_key: expected one key id"):
        interp.interpret(np.zeros(w, dtype=np.int64), next_key=np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match=r"k: expected a number of window replacements in \[1, 10\]"):
        _create(deeplog_experiment, k=0)


def test_search_options_are_checked():
    with pytest.raises(ValueError, match="verdict"):
        DeepLogSearch(verdict="both")
    with pytest.raises(ValueError, match="fidelity_bound"):
        DeepLogSearch(fidelity_bound=2.0)
    with pytest.raises(TypeError, match="DeepLogAdapter"):
        from deepaid_sdk import ScoreAdapter

        DeepLogSearch().search(ScoreAdapter(lambda t: t.sum(dim=1), threshold=0.0), np.ones((2, 3)))


def test_saliency_thresholds_decide_the_verdict(deeplog_experiment, deeplog_alerts):
    ex = deeplog_experiment
    always_window = _create(ex, search_options={"confidence": 1.0}).interpret_batch(deeplog_alerts)
    assert {d["saliency"] for d in always_window.details} == {"window"}
    always_next = _create(ex, search_options={"confidence": 0.0, "grad_tol": 1e9}).interpret_batch(deeplog_alerts)
    assert {d["verdict"] for d in always_next.details} == {"next key"}


def test_demo_smoke(tmp_path, capsys, monkeypatch):
    from deepaid_plugin_deeplog.demo import run
    from deepaid_plugin_deeplog.experiment import ExperimentConfig

    monkeypatch.chdir(tmp_path)
    cfg = ExperimentConfig(n_train=150, n_test=80, anomaly_rate=0.5, hidden=16, layers=1, epochs=8, seed=1)
    assert run(tmp_path / "out", cfg) == 0
    text = capsys.readouterr().out
    assert "detection" in text and "DeepAID" in text
    assert (tmp_path / "out" / "deeplog-interpretations.json").is_file()
    assert (tmp_path / "out" / "deeplog-test.log").is_file()
    assert "explained whole" in text and (tmp_path / "out" / "deeplog-sessions.json").is_file()


def test_the_table_shows_keys_as_a_to_b_not_as_a_difference():
    interp = deepaid_sdk.create("deeplog", model=_Stubborn(), num_candidates=2)
    result = interp.interpret_batch(np.array([[0, 1, 3, 4]]))[0]
    lines = interp.table(result).splitlines()
    assert "1 changed, most important first" in lines[0]
    assert lines[3].split() == ["next", "key", "4", "2", "4", "->", "2"]
    assert "-2" not in interp.table(result)  # no arithmetic on key ids
