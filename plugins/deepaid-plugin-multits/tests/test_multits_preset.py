"""The ``multits`` preset: last-step and all-steps search, constraints, ground truth on a small case."""

import numpy as np
import pytest
import torch

from deepaid_plugin_multits.detector import fit_detector
from deepaid_plugin_multits.model import LSTMPredictor
from deepaid_plugin_multits.preset import window_constraints
from deepaid_plugin_multits.synthetic import make_multits
from deepaid_sdk import FrozenConstraint, create
from deepaid_sdk.evaluation import label_flip_rate, precision_recall_at_k
from deepaid_sdk.testing import check_search

W, D, PLANTED = 8, 6, 2


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A small trained detector and its detected alerts with planted truth."""
    data = make_multits(features=D, window=W, train_steps=1500, events=40, planted=PLANTED, seed=1)
    det = fit_detector(data, epochs=8, hidden=16, cache_dir=tmp_path_factory.getbasetemp() / "multits-cache")
    x, truth, alerts = det.events()
    assert alerts.sum() >= 10, "the small detector should flag most planted events"
    return det, x[alerts], truth[alerts]


def test_last_step_mode_changes_only_the_actual_vector(small):
    det, x, truth = small
    interp = create("multits", model=det.adapter, k=PLANTED)
    batch = check_search(interp.search, det.adapter, x, interp.constraints, interp.distance)
    assert len(batch) >= 20  # measured: 30 alerts
    np.testing.assert_array_equal(batch.references[:, :-1], batch.anomalies[:, :-1])
    for changed in batch.changed:
        assert changed.ndim == 2 and changed.shape[1] == 2 and len(changed) <= PLANTED
        assert set(changed[:, 0].tolist()) <= {W}
    assert interp.name == "multits"
    assert not interp.adapter.context_gradient and det.adapter.context_gradient  # a copy; the user's is untouched
    assert create("multits", model=det.adapter, k=PLANTED, steps="all").adapter is det.adapter


def test_recall_and_flip_rate_on_planted_anomalies(small):
    det, x, truth = small
    batch = create("multits", model=det.adapter, k=PLANTED).interpret_batch(x)
    _, recall = precision_recall_at_k(batch, truth, k=PLANTED)
    assert recall >= 0.9
    assert label_flip_rate(batch) >= 0.98
    # the default margin asks for a reference that scores like a typical normal window
    assert np.all(batch.reference_scores[batch.flipped] <= det.adapter.threshold)


def test_all_steps_mode_searches_the_context_too(small):
    det, x, truth = small
    interp = create("multits", model=det.adapter, k=PLANTED, steps="all")
    assert not any(isinstance(c, FrozenConstraint) for c in interp.constraints)
    batch = check_search(interp.search, det.adapter, x, interp.constraints, interp.distance)
    assert label_flip_rate(batch) >= 0.9
    # With the actual vector held fixed, only the context can explain: the search must move it.
    last_row = FrozenConstraint(list(range(W * D, (W + 1) * D)))
    interp = create("multits", model=det.adapter, k=4, steps="all", constraints=[last_row])
    batch = check_search(interp.search, det.adapter, x, interp.constraints, interp.distance)
    np.testing.assert_array_equal(batch.references[:, -1], batch.anomalies[:, -1])
    steps = np.concatenate([c[:, 0] for c in batch.changed if len(c)])
    assert steps.size and (steps < W).all()
    assert batch.reference_scores.mean() < batch.scores.mean()


def test_frozen_feature_and_box_hold_in_last_step_mode(small):
    det, x, truth = small
    busiest = int(truth[:, -1].sum(axis=0).argmax())
    low, high = x[:, -1].min(axis=0), x[:, -1].max(axis=0)  # every anomaly's last vector lies inside
    interp = create("multits", model=det.adapter, k=PLANTED, frozen=[busiest], box=(low, high))
    batch = check_search(interp.search, det.adapter, x, interp.constraints, interp.distance)
    np.testing.assert_array_equal(batch.references[:, :, busiest], batch.anomalies[:, :, busiest])
    last = batch.references[:, -1]
    assert np.all((last >= low) & (last <= high))


def test_integer_feature_stays_whole_in_the_reference(small):
    det, x, truth = small
    counts = int(truth[:, -1].sum(axis=0).argmax())  # a planted feature, treated as a count
    x = x.copy()
    x[:, -1, counts] = np.round(x[:, -1, counts] * 4)  # whole numbers, still far off for the planted rows
    interp = create("multits", model=det.adapter, k=PLANTED, integer=[counts])
    batch = check_search(interp.search, det.adapter, x, interp.constraints, interp.distance)
    values = batch.references[:, -1, counts]
    np.testing.assert_array_equal(values, np.round(values))
    assert (values != x[:, -1, counts]).any()


def test_window_constraints_flatten_per_feature_options():
    opts = window_constraints(2, 3, steps="last", box=(0.0, [1.0, 2.0, 3.0]), integer=[1], frozen=[2])
    assert opts["frozen"] == [0, 1, 2, 3, 4, 5, 8]
    assert opts["integer"] == [7]
    low, high = opts["box"]
    assert low.tolist() == [-np.inf] * 6 + [0.0] * 3
    assert high.tolist() == [np.inf] * 6 + [1.0, 2.0, 3.0]
    every = window_constraints(2, 3, steps="all", integer=[0], frozen=[1])
    assert every["frozen"] == [1, 4, 7] and every["integer"] == [0, 3, 6]
    assert window_constraints(2, 3, steps="all") == {}


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"steps": "first"}, ValueError, "steps: expected one of"),
        ({"frozen": [9]}, ValueError, r"frozen: feature indices must lie in \[0, 3\)"),
        ({"integer": [0.5]}, TypeError, "integer: expected feature indices"),
        ({"box": (0.0, [1.0, 2.0])}, ValueError, "box high: expected a number or one value per feature"),
        ({"box": 1.0}, TypeError, "box: expected a"),
    ],
)
def test_window_constraint_errors(options, error, message):
    with pytest.raises(error, match=message):
        window_constraints(2, 3, **options)


def test_preset_from_a_module_and_a_normal_series():
    torch.manual_seed(0)
    series = np.sin(np.arange(300)[:, None] / 4.0 + np.arange(3)).astype(np.float32)
    interp = create("multits", model=LSTMPredictor(3, hidden=8), window=5, normal=series, k=2)
    assert interp.adapter.sample_shape == (6, 3)
    assert interp.adapter.threshold > interp.adapter.typical_score
    fidelity = next(c for c in interp.constraints if c.name == "fidelity")
    assert fidelity.eps == pytest.approx(interp.adapter.threshold - interp.adapter.typical_score)


def test_preset_errors():
    model = LSTMPredictor(3, hidden=8)
    with pytest.raises(ValueError, match="window: give W"):
        create("multits", model=model)
    with pytest.raises(ValueError, match="threshold: not set"):
        create("multits", model=model, window=4)
    with pytest.raises(ValueError, match=r"k: expected at most the number of features \(3\)"):
        create("multits", model=model, window=4, threshold=1.0, k=4)
    assert create("multits", model=model, window=4, threshold=1.0, k=4, steps="all").adapter.threshold == 1.0
    with pytest.raises(TypeError, match="model: expected an LSTMPredictorAdapter"):
        create("multits", model="lstm")
    with pytest.raises(ValueError, match="eps: expected a number, None or 'typical'"):
        create("multits", model=model, window=4, threshold=1.0, eps="median")


@pytest.fixture(scope="module")
def context(small, tmp_path_factory):
    """Spikes planted in context rows of windows the all-steps score flags (same training series: same detector)."""
    det, _, _ = small
    data = make_multits(
        features=D,
        window=W,
        train_steps=1500,
        events=40,
        planted=PLANTED,
        kinds=("spike",),
        magnitude=(8.0, 12.0),
        seed=1,
    )  # larger spikes than small's: the small model is rough
    spikes = fit_detector(data, epochs=8, hidden=16, cache_dir=tmp_path_factory.getbasetemp() / "multits-cache")
    windows, truth = data.context_samples(0)
    x = spikes.scaler.transform(windows).astype(np.float32)
    normal = spikes.normal_samples()
    scored = spikes.adapter.all_steps()
    scored.calibrate(normal)
    flagged = (scored.scores(x) > scored.threshold).numpy()
    assert flagged.sum() >= 10, "the all-steps score should flag most context spikes"
    assert not truth[flagged][:, -1].any() and truth[flagged][:, :-1].any(axis=(1, 2)).all()  # context rows only
    return spikes, normal, x[flagged], truth[flagged]


def test_all_steps_score_finds_anomalies_in_context_rows(context):
    det, normal, x, truth = context
    interp = create("multits", model=det.adapter, k=PLANTED, score="all", normal=normal)
    assert interp.adapter.step_scale is not None and interp.adapter is not det.adapter
    assert not any(isinstance(c, FrozenConstraint) for c in interp.constraints)  # steps="all" by default
    batch = check_search(interp.search, interp.adapter, x, interp.constraints, interp.distance)
    _, recall = precision_recall_at_k(batch, truth, k=PLANTED)
    assert recall >= 0.85 and label_flip_rate(batch) >= 0.9
    # the planted (context) cells move towards the model's prediction: the reference fixes them
    rows = np.flatnonzero(batch.flipped)
    planted = truth[rows]
    pred = interp.adapter.reconstruct(torch.as_tensor(x[rows])).detach().numpy()
    moved = np.abs(batch.references[rows] - pred)[planted] < np.abs(x[rows] - pred)[planted]
    assert moved.mean() >= 0.85
    # The last-step score sees context spikes only through the last prediction: nothing to find.
    last = create("multits", model=det.adapter, k=PLANTED, steps="all").interpret_batch(x)
    found = (last.changed_mask() & np.asarray(truth, dtype=bool)).sum() / np.asarray(truth).sum()
    assert found < 0.5  # over every planted window, alerts or not: the last-step score finds few


def test_all_steps_options_and_errors(small):
    det, x, _ = small
    normal = det.normal_samples(300)
    scored = create("multits", model=det.adapter, score="all", normal=normal, min_context=3).adapter
    assert scored.min_context == 3 and scored.scored_steps == W - 2
    assert create("multits", model=scored, k=2).adapter is scored  # an AllStepsAdapter implies score="all"
    assert create("multits", model=scored, steps="last").adapter.context_gradient is False
    with pytest.raises(ValueError, match="score: expected one of \\('last', 'all'\\); got 'every'"):
        create("multits", model=det.adapter, score="every", normal=normal)
    with pytest.raises(ValueError, match="normal: score='all' needs normal data"):
        create("multits", model=det.adapter, score="all")
    with pytest.raises(ValueError, match="min_context: only used with score='all'"):
        create("multits", model=det.adapter, min_context=2)
    with pytest.raises(ValueError, match=f"min_context: expected at most W={W} context steps; got {W + 1}"):
        create("multits", model=det.adapter, score="all", normal=normal, min_context=W + 1)
    with pytest.raises(ValueError, match="min_context: expected an integer >= 1; got 0"):
        create("multits", model=det.adapter, score="all", normal=normal, min_context=0)
    with pytest.raises(ValueError, match="min_context: the AllStepsAdapter given scores from 3"):
        create("multits", model=scored, min_context=1)
    with pytest.raises(ValueError, match="score: the model is an AllStepsAdapter"):
        create("multits", model=scored, score="last")
