"""The core's shape: declared preset options, one target policy, normal data prepared once, adapters that
recognise a model, benchmarks out of the import path, old import paths that still work."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import deepaid_sdk
from deepaid_sdk import Option, Preset
from deepaid_sdk.model.adapters import ModelAdapter, ScoreAdapter
from deepaid_sdk.model.foreign import foreign_adapter
from deepaid_sdk.normal import NormalData, prepare_normal
from deepaid_sdk.target import TargetPolicy, margin_of, strict_bound


def _build(model=None, *, threshold=None, k=3):
    """A build function for the declaration tests."""
    return (model, threshold, k)


# -- declared preset options ---------------------------------------------------------------------


def test_a_declaration_must_match_the_build_functions_keywords() -> None:
    Preset(_build, (Option("threshold", None), Option("k", 3)))  # matches: fine
    with pytest.raises(ValueError, match=r"declared but not taken \['lam'\], taken but not declared \['k'\]"):
        Preset(_build, (Option("threshold", None), Option("lam", None)))
    with pytest.raises(ValueError, match="declared more than once"):
        Preset(_build, (Option("threshold"), Option("threshold"), Option("k")))


def test_an_unknown_option_names_the_preset_and_what_it_takes_before_any_work() -> None:
    built: list[int] = []

    def never(model=None, *, k=None):
        built.append(1)

    with pytest.raises(TypeError) as err:
        Preset(never, (Option("k", None),)).check({"k": 2, "lamda": 0.1}, "mine")
    assert str(err.value) == "create: the mine preset has no option 'lamda'; it takes k (see `deepaid plugins`)"
    assert built == []
    with pytest.raises(TypeError, match=r"the tabular preset has no option 'lamda'; it takes threshold, normal,"):
        deepaid_sdk.create("tabular", model=torch.nn.Linear(3, 3), lamda=0.1)


def test_every_registered_preset_is_a_declaration_that_the_listing_shows() -> None:
    reg = deepaid_sdk.registry()
    names = reg.names("interpreters")
    assert {"gradient", "tabular", "kitsune", "deeplog", "multits", "glgv", "pyod"} <= set(names)
    listing = {c["name"]: c for c in reg.to_dict()["components"]["interpreters"]}
    for name in names:
        recipe = deepaid_sdk.preset(name)
        assert isinstance(recipe, Preset) and recipe.doc
        assert [o["name"] for o in listing[name]["options"]] == list(recipe.names)
    assert deepaid_sdk.preset_options("kitsune")["k"] == "10"  # groups: a statistic over its decay windows
    assert deepaid_sdk.preset_options("kitsune")["budget"] == "'groups'"


def test_a_bare_function_registered_the_old_way_still_works_with_a_warning() -> None:
    from deepaid_sdk.registry import Component, Registry

    reg = Registry()
    with pytest.warns(DeprecationWarning, match="register a deepaid_sdk.Preset"):
        reg.add(Component("interpreters", "old", _build, "someone"))
    recipe = reg.get("interpreters", "old").factory
    assert isinstance(recipe, Preset) and recipe.names == ("threshold", "k")
    assert recipe(model="m", k=7) == ("m", None, 7)


# -- one target policy ---------------------------------------------------------------------------


def _adapter(threshold: float, eps: float = 0.0) -> ScoreAdapter:
    return ScoreAdapter(lambda x: x.sum(dim=1), threshold=threshold, eps=eps, sample_shape=(2,))


@settings(max_examples=60, deadline=None)
@given(st.floats(0.5, 10.0), st.floats(0.0, 0.4), st.floats(0.0, 1.0), st.floats(0.0, 0.9))
def test_the_target_never_exceeds_the_strict_bound(threshold, eps, quantile, share) -> None:
    adapter = _adapter(threshold, eps)
    strict = strict_bound(adapter)
    assert strict == pytest.approx(threshold - eps)
    typical = TargetPolicy("typical", quantile, share).score(adapter)
    assert typical <= strict + 1e-12
    assert typical == pytest.approx(min(threshold - share * threshold, strict))  # no normal scores: the fallback
    assert TargetPolicy("threshold", quantile, share).score(adapter) == strict


def test_the_target_reads_recorded_normal_scores_before_the_searchs_own_rows() -> None:
    adapter = _adapter(10.0)
    own = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=torch.float64)
    assert TargetPolicy("typical", 0.5, None).score(adapter, normal_scores=lambda: own) == pytest.approx(3.0)
    adapter.observe_normal(np.array([[0.0, 1.0], [0.0, 2.0], [0.0, 3.0]], dtype=np.float32))
    called: list[int] = []
    value = TargetPolicy("typical", 0.5, None).score(adapter, normal_scores=lambda: called.append(1) or own)
    assert value == pytest.approx(2.0) and called == []  # the recorded median; the rows were never scored


def test_the_fidelity_margin_comes_from_the_constraint_else_the_adapter() -> None:
    from deepaid_sdk.constraints import ConcisenessConstraint, FidelityConstraint

    adapter = _adapter(1.0, eps=0.1)
    assert margin_of(adapter, [ConcisenessConstraint(2)]) == pytest.approx(0.1)
    assert margin_of(adapter, [FidelityConstraint()]) == pytest.approx(0.1)
    assert margin_of(adapter, [FidelityConstraint(eps=0.3)]) == pytest.approx(0.3)


# -- normal data, prepared and scored once ---------------------------------------------------------


class _Counting(torch.nn.Module):
    """An autoencoder-shaped model that counts the rows it scores."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 4)
        self.rows = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += x.shape[0]
        return self.layer(x)


def test_create_scores_the_normal_rows_once() -> None:
    torch.manual_seed(0)
    model = _Counting()
    normal = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
    interp = deepaid_sdk.create("tabular", model=model, normal=normal, k=2)
    data = interp.adapter.normal
    assert isinstance(data, NormalData) and len(data) == 300
    np.testing.assert_array_equal(data.values.numpy(), normal)
    # 300 rows scored once, one row of zeros to tell an autoencoder from a score model, and the
    # gradient probe's 4 rows: nothing is converted or scored twice.
    assert model.rows == 300 + 1 + 4
    assert interp.adapter.threshold == pytest.approx(data.threshold_at(99.0))


def test_prepare_normal_calibrates_only_without_a_threshold() -> None:
    rows = np.array([[0.0, 1.0], [0.0, 2.0], [0.0, 4.0]], dtype=np.float32)
    free = _adapter(10.0)
    free._threshold = None
    data = prepare_normal(free, rows, None, 50.0)
    assert free.threshold == pytest.approx(2.0) and free.normal is data
    fixed = _adapter(10.0)
    assert prepare_normal(fixed, rows, None, 50.0) is fixed.normal and fixed.threshold == 10.0
    assert prepare_normal(fixed, None) is None


# -- adapters that recognise a model ------------------------------------------------------------


class _Oracle:
    """A third party's detector type."""

    def anomaly(self, rows: np.ndarray) -> np.ndarray:
        return np.abs(rows).sum(axis=1)


class _OracleAdapter(ModelAdapter):
    """Scores an ``_Oracle``."""

    @classmethod
    def accepts(cls, model) -> bool:
        return isinstance(model, _Oracle)

    def __init__(self, model, threshold=None, *, width=None, eps=0.0) -> None:
        super().__init__(threshold, eps=eps)
        self.model, self.sample_shape = model, (width or 2,)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(self.model.anomaly(x.detach().cpu().numpy()))


def test_a_plugins_adapter_joins_auto_detection_by_accepting_its_models() -> None:
    from deepaid_sdk.hookspecs import hookimpl

    class Plugin:
        @hookimpl
        def register_adapters(self, register) -> None:
            register("oracle", _OracleAdapter)

    from deepaid_sdk.plugins import get_plugin_manager

    pm = get_plugin_manager(entry_points=False)
    pm.register(Plugin(), name="oracle-plugin")
    registry_module = sys.modules["deepaid_sdk.registry"]  # the package re-exports a function of that name

    saved = registry_module._REGISTRY
    registry_module._REGISTRY = registry_module.Registry.from_plugin_manager(pm)
    try:
        found = foreign_adapter(_Oracle(), 1.0, width=3)
        assert isinstance(found, _OracleAdapter) and found.sample_shape == (3,) and found.threshold == 1.0
        assert foreign_adapter(torch.nn.Linear(2, 2)) is None  # a torch module is nobody's foreign model
    finally:
        registry_module._REGISTRY = saved


def test_reconstruction_is_a_declared_capability() -> None:
    from deepaid_sdk.model.adapters import ReconstructionAdapter

    assert ReconstructionAdapter.reconstructs is True and ScoreAdapter.reconstructs is False
    assert _OracleAdapter.reconstructs is False


# -- the import path --------------------------------------------------------------------------


def test_building_the_registry_imports_no_benchmark_code() -> None:
    code = (
        "import sys, deepaid_sdk; deepaid_sdk.registry(); "
        "print(sorted(m for m in sys.modules if m.startswith('deepaid_sdk.bench') or m.endswith('.bench')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "old, new",
    [
        # The old names are spelt in two parts so that a rewrite of import paths leaves them alone.
        ("deepaid_sdk." + "gradient", "deepaid_sdk.search.gradient"),
        ("deepaid_sdk." + "blackbox", "deepaid_sdk.search.blackbox"),
        ("deepaid_sdk." + "adapters", "deepaid_sdk.model.adapters"),
        ("deepaid_sdk." + "blackbox_adapters", "deepaid_sdk.model.foreign"),
        ("deepaid_sdk." + "views", "deepaid_sdk.results.views"),
        ("deepaid_sdk." + "benchmarks.synthetic", "deepaid_sdk.bench.synthetic"),
    ],
)
def test_an_old_import_path_warns_and_gives_the_same_module(old, new) -> None:
    code = (
        f"import warnings, importlib; warnings.simplefilter('error', DeprecationWarning)\n"
        f"try:\n    importlib.import_module({old!r})\nexcept DeprecationWarning as w:\n    print(w)\n"
        f"warnings.simplefilter('ignore')\n"
        f"print(importlib.import_module({old!r}) is importlib.import_module({new!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0].startswith(f"{old.rsplit('.', 1)[0] if 'benchmarks' in old else old} moved to")
    assert out[1] == "True"


def test_old_names_of_the_interpreter_module_warn_and_still_resolve() -> None:
    import deepaid_sdk.interpreter as interpreter
    from deepaid_sdk.presets import create

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert interpreter.create is create
    assert any("moved to deepaid_sdk.presets" in str(w.message) for w in caught)
    with pytest.raises(AttributeError):
        interpreter.no_such_name  # noqa: B018
