"""``deepaid_sdk.bench.compare``: the comparison runner and baseline discovery."""

import json
import sys

import numpy as np
import pytest

from deepaid_baselines.plugin import BASELINE_SEARCHES
from deepaid_sdk import GradientSearch, Interpreter, build_constraints
from deepaid_sdk.bench.case import BenchmarkCase
from deepaid_sdk.bench.compare import (
    MISSING,
    baseline_explainers,
    compare,
    flip_at_k,
    gaussian_perturb,
    position_accuracy,
)
from deepaid_sdk.distances import L2Distance
from deepaid_sdk.model.adapters import ScoreAdapter
from deepaid_sdk.results import InterpretationBatch

K = 3
ALL = sorted(s.name for s in BASELINE_SEARCHES)


def ours(ae):
    def explain(x, seed):
        search = GradientSearch(steps=100, seed=seed, init_noise=0.01)
        return Interpreter(ae.adapter, search, build_constraints(k=K), L2Distance()).interpret_batch(x)

    return explain


def tiny_case(ae, names=("residual", "nearest_normal", "saliency"), n=8, **extra):
    found = baseline_explainers(ae.adapter, K, normal=ae.normal[:400])
    explainers = {"deepaid": ours(ae), **{name: found[name] for name in names}}
    return BenchmarkCase(
        name="tiny-ae",
        anomalies=ae.anomalies[:n],
        k=K,
        explainers=explainers,
        is_normal=ae.is_normal,
        truth=ae.truth[:n],
        setup={"seed": 0, "detector": "AE 20"},
        **extra,
    )


def test_compare_gives_every_figure_for_every_method(baselines_ae, tmp_path):
    report = compare(tiny_case(baselines_ae), tmp_path, seeds=2)
    assert report.columns == (
        "case",
        "method",
        "flip@K",
        "recall@K",
        "stability",
        "robustness",
        "changed",
        "anomalies/s",
    )
    assert [row[1] for row in report.rows] == ["deepaid", "residual", "nearest_normal", "saliency"]
    assert all(row[0] == "tiny-ae" for row in report.rows)
    # flip@K, recall@K, stability, robustness on these 8 alerts, measured (flip in 1/8, recall in 1/24): only
    # our search flips them all at K = 3, the deterministic baselines are perfectly stable.
    expected = {
        "deepaid": (1.0, 1.0, 1.0, 1.0),
        "residual": (0.0, 1.0, 1.0, 1.0),
        "nearest_normal": (1 / 8, 22 / 24, 1.0, 1.0),
        "saliency": (0.0, 1.0, 1.0, 1.0),
    }
    assert {row[1]: row[2:6] for row in report.rows} == {m: pytest.approx(v, abs=1e-3) for m, v in expected.items()}
    assert [row[6] for row in report.rows] == [K] * 4  # every method changes K features
    assert all(row[7] > 0 for row in report.rows)
    assert report.setup["n"] == 8 and report.setup["k"] == K and report.setup["seeds"] == 2
    assert "torch" in report.setup["machine"] and report.setup["device"] == "cpu"
    data = json.loads(json.dumps(report.to_dict()))
    assert data["results"][0]["method"] == "deepaid"
    chart = tmp_path / "bench-tiny-ae.png"
    assert chart.exists() and chart.stat().st_size > 0
    assert f"chart: {chart}" in report.notes
    assert "deepaid" in report.text()


def test_compare_without_matplotlib_says_so(baselines_ae, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    report = compare(tiny_case(baselines_ae, names=("residual",), n=4), tmp_path, seeds=1)
    assert any("matplotlib is not installed" in note for note in report.notes)
    assert not list(tmp_path.iterdir())
    assert report.rows[0][4] is MISSING, "one seed: no stability figure"
    assert report.text().splitlines()[3].split()[4] == "-", "a missing figure prints as -"
    assert json.loads(json.dumps(report.to_dict()))["results"][0]["stability"] is None


def test_flip_at_k_applies_only_the_first_k_changes(baselines_ae):
    ae = baselines_ae
    x = ae.anomalies[:6]
    # Every feature set to the reconstruction: more than K changes, ordered by importance.
    wide = Interpreter(
        ae.adapter, GradientSearch(steps=1, start="reconstruction", prune=False), build_constraints(k=20), L2Distance()
    )
    result = wide.search.search(ae.adapter, x, wide.constraints)
    case = BenchmarkCase(name="c", anomalies=x, k=K, explainers={"m": lambda a, s: result}, is_normal=ae.is_normal)
    patched = x.copy()
    for i, changed in enumerate(result.changed):
        patched[i, changed[:K]] = result.references[i, changed[:K]]
    assert flip_at_k(case, result, K) == pytest.approx(ae.is_normal(patched).mean())
    assert flip_at_k(case, result, 20) == pytest.approx(ae.is_normal(result.references).mean())


def batch_with_changes(changes, shape):
    n = len(changes)
    anomalies = np.zeros((n, *shape), dtype=np.float32)
    refs = anomalies.copy()
    for i, c in enumerate(changes):
        for idx in c:
            refs[(i, *np.atleast_1d(idx))] = 1.0
    dims = () if len(shape) == 1 else (len(shape),)
    changed = tuple(np.asarray(c, dtype=np.int64).reshape(len(c), *dims) for c in changes)
    z = np.zeros(n)
    return InterpretationBatch(
        anomalies=anomalies,
        references=refs,
        changed=changed,
        scores=z,
        reference_scores=z,
        flipped=np.ones(n, bool),
        steps=np.zeros(n, np.int64),
        threshold=1.0,
        seconds=1.0,
    )


def test_position_accuracy_checks_the_first_changed_position():
    truth = np.zeros((3, 5), dtype=bool)
    truth[:, 2] = True
    batch = batch_with_changes([[2, 0], [0, 2], []], (5,))
    assert position_accuracy(batch, truth) == pytest.approx(1 / 3)
    windows = np.zeros((2, 4, 3), dtype=bool)
    windows[:, 1, 0] = True  # planted position 1 (any key)
    batch = batch_with_changes([[(1, 2)], [(3, 0), (1, 0)]], (4, 3))
    assert position_accuracy(batch, windows) == 0.5


def test_compare_position_accuracy_column(baselines_ae):
    case = tiny_case(baselines_ae, names=("residual",), n=4, truth_metric="position_accuracy")
    report = compare(case, None, seeds=1)
    assert report.columns[3] == "position acc."
    # Both name a planted feature first on all 4 alerts (measured); recall on the same case is also 1.
    assert [(row[1], row[3]) for row in report.rows] == [("deepaid", 1.0), ("residual", 1.0)]


def coin(x, seed):
    """An explainer whose K features hang on the seed and on the input: unstable and not robust."""
    x = np.asarray(x)
    rng = np.random.default_rng([seed, int(abs(float(x[0, 0])) * 1e6)])
    changed = tuple(rng.choice(x.shape[1], K, replace=False) for _ in x)
    refs = x.copy()
    for i, c in enumerate(changed):
        refs[i, c] = 0.0
    n = len(x)
    return InterpretationBatch(
        anomalies=x,
        references=refs,
        changed=changed,
        scores=np.full(n, 2.0),
        reference_scores=np.full(n, 2.0),
        flipped=np.zeros(n, bool),
        steps=np.zeros(n, np.int64),
        threshold=1.0,
        seconds=1.0,
    )


def test_stability_and_robustness_are_the_jaccard_of_the_runs(baselines_ae):
    x = baselines_ae.anomalies[:8]
    case = BenchmarkCase(
        name="coin", anomalies=x, k=K, explainers={"coin": coin}, is_normal=baselines_ae.is_normal, setup={"seed": 0}
    )
    row = compare(case, None, seeds=2).rows[0]

    def mean_jaccard(a, b):
        return np.mean([len(set(p) & set(q)) / len(set(p) | set(q)) for p, q in zip(a.changed, b.changed)])

    first = coin(x, 0)
    stable, robust = mean_jaccard(first, coin(x, 1)), mean_jaccard(first, coin(gaussian_perturb(x, 0), 0))
    assert stable < 0.6 and robust < 0.6  # the coin really is unstable: the figures below can tell
    assert row[4:6] == pytest.approx((stable, robust), abs=1e-4)


def test_a_failing_method_is_reported_and_the_others_still_measured(baselines_ae):
    case = tiny_case(baselines_ae, names=("residual",), n=4)

    def broken(x, seed):
        raise RuntimeError("boom")

    case.explainers["broken"] = broken
    report = compare(case, None, seeds=1)
    rows = {row[1]: row for row in report.rows}
    assert rows["broken"][2:] == (MISSING,) * 6 and rows["residual"][2] != MISSING
    report.text()
    assert any("broken FAILED: RuntimeError: boom" in note for note in report.notes)


def test_compare_several_cases_in_one_table(baselines_ae):
    a = tiny_case(baselines_ae, names=("residual",), n=4)
    b = tiny_case(baselines_ae, names=("residual",), n=6)
    b.name = "tiny-other"
    report = compare([a, b], None, seeds=1)
    assert report.name == "tiny"
    assert [row[0] for row in report.rows] == ["tiny-ae", "tiny-ae", "tiny-other", "tiny-other"]
    assert report.setup["k"] == K and report.setup["n[tiny-ae]"] == 4 and report.setup["n[tiny-other]"] == 6


def test_compare_uses_the_cases_perturbation(baselines_ae):
    calls = []

    def perturb(x, seed):
        calls.append(seed)
        return x.copy()

    report = compare(tiny_case(baselines_ae, names=("residual",), n=4, perturb=perturb), None, seeds=1)
    assert calls == [0, 0] and all(row[5] == 1.0 for row in report.rows)


def test_compare_rejects_bad_arguments(baselines_ae):
    case = tiny_case(baselines_ae, names=("residual",), n=4)
    with pytest.raises(TypeError, match="cases"):
        compare("tabular")
    with pytest.raises(ValueError, match="seeds"):
        compare(case, seeds=0)
    with pytest.raises(ValueError, match="names must differ"):
        compare([case, case])
    case.truth_metric = "accuracy"
    with pytest.raises(ValueError, match="truth_metric"):
        compare(case)


def test_baseline_explainers_discovers_the_registered_baselines(baselines_ae):
    ae = baselines_ae
    assert sorted(baseline_explainers(ae.adapter, K, normal=ae.normal)) == ALL
    assert sorted(baseline_explainers(ae.adapter, K)) == sorted(set(ALL) - {"nearest_normal"})
    scorer = ScoreAdapter(lambda t: ae.adapter.score(t), threshold=ae.adapter.threshold, sample_shape=(20,))
    assert baseline_explainers(scorer, K) == {}
    assert sorted(baseline_explainers(scorer, K, normal=ae.normal)) == sorted(set(ALL) - {"residual"})
    assert baseline_explainers(ae.adapter, K, normal=ae.normal, kind="onehot") == {}
    assert "gradient" not in baseline_explainers(ae.adapter, K, normal=ae.normal)


def test_baseline_explainers_run_with_k_and_seed(baselines_ae):
    ae = baselines_ae
    explain = baseline_explainers(ae.adapter, 2, normal=ae.normal)["lime"]
    a, b = explain(ae.anomalies[:3], 0), explain(ae.anomalies[:3], 0)
    assert a.changed_mask().sum(axis=1).max() <= 2
    np.testing.assert_array_equal(a.changed_mask(), b.changed_mask())
    assert a.params["seed"] == 0 and explain(ae.anomalies[:3], 5).params["seed"] == 5
    with pytest.raises(ValueError, match="k"):
        baseline_explainers(ae.adapter, 0)
    with pytest.raises(TypeError, match="adapter"):
        baseline_explainers(ae.model, 2)


def test_compare_without_truth_leaves_the_truth_column_empty(baselines_ae):
    case = tiny_case(baselines_ae, names=("residual",), n=4)
    case.truth = None
    report = compare(case, None, seeds=1)
    assert report.columns[3] == "recall@K" and all(row[3] is MISSING for row in report.rows)
    assert report.text().splitlines()[3].split()[3] == "-"
