"""sklearn, ONNX Runtime and numpy score adapters: sign convention, thresholds, conformance, errors."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from sklearn.ensemble import IsolationForest
from sklearn.svm import OneClassSVM

from deepaid_sdk import registry
from deepaid_sdk.constraints import ConcisenessConstraint
from deepaid_sdk.model.adapters import ScoreAdapter
from deepaid_sdk.model.differentiable import choose_search, gradient_problem, require_input_gradient
from deepaid_sdk.model.foreign import NumpyScoreAdapter, OnnxAdapter, SklearnAdapter, foreign_adapter
from deepaid_sdk.search.blackbox import BlackboxSearch
from deepaid_sdk.search.gradient import GradientSearch
from deepaid_sdk.testing import check_adapter, check_search

D = 6


@pytest.fixture(scope="session")
def rows() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(300, D)).astype(np.float32)


@pytest.fixture(scope="session")
def forest(rows) -> IsolationForest:
    return IsolationForest(n_estimators=30, random_state=0).fit(rows)


def test_sklearn_sign_and_threshold_follow_the_estimator(rows, forest) -> None:
    adapter = SklearnAdapter(forest)
    assert adapter.method == "score_samples" and not adapter.higher_is_anomalous
    np.testing.assert_allclose(adapter.scores(rows).numpy(), -forest.score_samples(rows), rtol=1e-6)
    assert adapter.threshold == pytest.approx(-forest.offset_)
    # sklearn's own verdict: predict == -1 exactly where ours says alert.
    np.testing.assert_array_equal(~adapter.is_normal(adapter.prepare(rows)).numpy(), forest.predict(rows) == -1)
    check_adapter(adapter, rows[:16])


def test_sklearn_decision_function_threshold_is_zero(rows) -> None:
    model = OneClassSVM(nu=0.05, gamma="scale").fit(rows)
    adapter = SklearnAdapter(model, method="decision_function")
    assert adapter.threshold == 0.0
    np.testing.assert_array_equal(~adapter.is_normal(adapter.prepare(rows)).numpy(), model.predict(rows) == -1)
    check_adapter(adapter, rows[:16])


def _onnx_model(path, mean: np.ndarray) -> None:
    """score = sum((x - mean)^2) over features, as an ONNX graph [N, D] -> [N]."""
    node_sub = helper.make_node("Sub", ["x", "mean"], ["d"])
    node_mul = helper.make_node("Mul", ["d", "d"], ["sq"])
    node_sum = helper.make_node("ReduceSum", ["sq", "axes"], ["score"], keepdims=0)
    graph = helper.make_graph(
        [node_sub, node_mul, node_sum],
        "sq_distance",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", D])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])],
        initializer=[
            helper.make_tensor("mean", TensorProto.FLOAT, [D], mean.tolist()),
            helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_onnx_adapter_from_a_path(tmp_path, rows) -> None:
    path = tmp_path / "score.onnx"
    _onnx_model(path, rows.mean(axis=0))
    adapter = foreign_adapter(path)
    assert isinstance(adapter, OnnxAdapter) and adapter.width == D
    expected = ((rows - rows.mean(axis=0)) ** 2).sum(axis=1)
    np.testing.assert_allclose(adapter.scores(rows).numpy(), expected, rtol=1e-5)
    adapter.calibrate(rows, 99)
    check_adapter(adapter, rows[:16])
    assert choose_search(adapter) == "blackbox"
    alerts = rows[:10] + np.where(np.arange(D) < 2, 5.0, 0.0)  # two features pushed out
    result = check_search(BlackboxSearch(normal=rows), adapter, alerts.astype(np.float32), [ConcisenessConstraint(2)])
    assert result.flip_rate == 1.0


def test_numpy_adapter_and_its_errors(rows) -> None:
    adapter = NumpyScoreAdapter(lambda r: np.abs(r).sum(axis=1), width=D)
    adapter.calibrate(rows, 95)
    check_adapter(adapter, rows[:16])
    with pytest.raises(ValueError, match="width: pass width=D"):
        NumpyScoreAdapter(lambda r: r.sum(axis=1))
    bad = NumpyScoreAdapter(lambda r: r, width=D, threshold=1.0)
    with pytest.raises(ValueError, match="model: expected one score per row"):
        bad.scores(rows[:3])


def test_sklearn_errors_name_the_argument(forest) -> None:
    with pytest.raises(TypeError, match="model: expected an estimator"):
        SklearnAdapter(object())
    with pytest.raises(ValueError, match="method: expected"):
        SklearnAdapter(forest, method="predict")
    with pytest.raises(ValueError, match="width: IsolationForest takes 6 features"):
        SklearnAdapter(forest, width=4)


def test_adapters_are_registered() -> None:
    adapters = registry().names("adapters")
    assert {"sklearn", "onnx", "numpy"} <= set(adapters)


def test_gradient_probe_tells_torch_scores_from_numpy_ones(rows, forest) -> None:
    x = torch.as_tensor(rows[:4])
    torch_score = ScoreAdapter(lambda t: t.pow(2).sum(dim=1), threshold=1.0, sample_shape=(D,))
    assert gradient_problem(torch_score, x) is None
    assert choose_search(torch_score, rows) == "gradient"
    detached = ScoreAdapter(
        lambda t: torch.as_tensor(np.abs(t.detach().numpy()).sum(axis=1)), threshold=1.0, sample_shape=(D,)
    )
    assert "autograd graph" in gradient_problem(detached, x)
    assert choose_search(SklearnAdapter(forest), rows) == "blackbox"


def test_forcing_gradient_on_a_forest_names_the_model_and_suggests_blackbox(rows, forest) -> None:
    adapter = SklearnAdapter(forest)
    with pytest.raises(ValueError, match=r"IsolationForest has no gradient.*search='blackbox'"):
        GradientSearch().search(adapter, rows[:3])
    with pytest.raises(ValueError, match="search='gradient'"):
        require_input_gradient(adapter, torch.as_tensor(rows[:3]))
