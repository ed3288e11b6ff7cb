"""``check_plugin(name)``: every first-party plugin passes it, and it reports broken components by check."""

import functools
import json
import pathlib
import time
import warnings

import pytest
import tomllib
import torch

from deepaid_sdk import hookimpl
from deepaid_sdk.constraints import Constraint
from deepaid_sdk.distances import Distance
from deepaid_sdk.model.adapters import ScoreAdapter
from deepaid_sdk.plugins import get_plugin_manager
from deepaid_sdk.registry import Registry
from deepaid_sdk.search import ReferenceSearch, build_batch
from deepaid_sdk.testing import CheckReport, Example, check_plugin

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _first_party_entry_points() -> list[str]:
    """The ``deepaid`` entry points every package of this repository declares."""
    names = []
    for pyproject in sorted([*ROOT.glob("plugins/*/pyproject.toml"), *ROOT.glob("contrib/*/pyproject.toml")]):
        data = tomllib.loads(pyproject.read_text())
        names += list(data["project"].get("entry-points", {}).get("deepaid", {}))
    return sorted(names)


FIRST_PARTY = _first_party_entry_points()


@functools.cache
def _report(name: str) -> CheckReport:
    """One run per plugin for this module (the built-ins' searches take seconds)."""
    return check_plugin(name, raise_on_failure=False)


def test_the_parametrized_plugins_are_every_entry_point_of_the_repository():
    assert FIRST_PARTY == ["baselines", "deeplog", "glgv", "kitsune", "multits", "pyod", "tabular", "template"]


@pytest.mark.parametrize("name", ["deepaid_sdk.builtins", *FIRST_PARTY])
def test_every_first_party_plugin_passes_check_plugin(name):
    report = _report(name)
    assert report.plugins == (name,)
    assert report.ok, report.text()
    assert report.get(name, "loaded").status == "passed"
    registered = {r.target for r in report.results if r.check == "registration"}
    assert registered, "a first-party plugin registers components"
    for target in registered:  # each component is either checked or listed with the reason it is not
        others = [r for r in report.results if r.target == target and r.check != "registration"]
        assert others and all(r.status == "passed" or r.detail for r in others), target


def test_searches_constraints_and_distances_are_run_on_the_synthetic_detector():
    report = _report("deepaid_sdk.builtins")
    for target, check in [
        ("searches/gradient", "check_search"),
        ("searches/gradient", "check_batch_invariance"),
        ("constraints/box", "check_constraint"),
        ("distances/l2", "check_distance"),
    ]:
        assert report.get(target, check).status == "passed"
    assert "options made up: low=-4.0, high=4.0" in report.get("constraints/box", "check_constraint").detail
    adapter = report.get("adapters/score", "conformance")
    assert adapter.status == "not checked" and "Example(options=..., check=...)" in adapter.detail
    assert report.get("benchmarks/core", "conformance").status == "not checked"


def test_a_search_of_another_domain_is_listed_as_not_checked_with_its_refusal():
    result = _report("deeplog").get("searches/deeplog", "conformance")
    assert result.status == "not checked"
    assert "TypeError: adapter: the deeplog search needs a DeepLogAdapter" in result.detail
    assert "examples={('searches', 'deeplog'): Example(check={'adapter'" in result.detail


def test_a_distribution_name_checks_its_plugins_and_an_unknown_name_lists_them():
    assert check_plugin("deepaid-plugin-template").plugins == ("template",)
    assert check_plugin("deepaid_plugin_template").plugins == ("template",)
    with pytest.raises(
        ValueError,
        match=r"name: expected a plugin or distribution name .* got 'templat'; "
        r"plugins: baselines, deepaid_sdk.builtins, "
        r".*distributions: deepaid-baselines",
    ):
        check_plugin("templat")


# -- a plugin of broken components: check_plugin must say which check fails and why ------------------------


class BatchDependentSearch(ReferenceSearch):
    """Moves, in every row, the one feature with the largest residual over the whole batch (a bug)."""

    name = "batchy"

    def _search(self, adapter, anomalies, constraints, distance):
        started = time.perf_counter()
        rec = adapter.reconstruct(anomalies).detach()
        column = int((rec - anomalies).abs().mean(dim=0).argmax())
        refs = anomalies.clone()
        refs[:, column] = rec[:, column]
        return build_batch(
            adapter,
            anomalies,
            refs,
            steps=torch.zeros(len(refs), dtype=torch.int64),
            started=started,
            method=self.name,
            params={},
        )


class HalvingConstraint(Constraint):
    """Hard, but its projection halves the reference again on every call (not idempotent)."""

    name = "halving"
    hard = True

    def project(self, ref, anomaly):
        return ref * 0.5

    def satisfied(self, ref, anomaly):
        return torch.ones(ref.shape[0], dtype=torch.bool)


class UndocumentedDistance(Distance):
    name = "undocumented"

    def _distance(self, a, b):
        return (a - b).abs().sum(dim=1)


class BrokenPlugin:
    @hookimpl
    def register_searches(self, register):
        register("batchy", BatchDependentSearch)

    @hookimpl
    def register_constraints(self, register):
        register("halving", HalvingConstraint)

    @hookimpl
    def register_distances(self, register):
        register("undocumented", UndocumentedDistance)


@pytest.fixture
def broken_registry():
    pm = get_plugin_manager(entry_points=False)
    pm.register(BrokenPlugin(), name="broken-plugin")
    return Registry.from_plugin_manager(pm)


def test_check_plugin_raises_listing_every_failed_check(broken_registry):
    with pytest.raises(AssertionError) as caught:
        check_plugin("broken-plugin", registry=broken_registry)
    message = str(caught.value)
    assert message.startswith("check_plugin('broken-plugin'): 5 passed, 4 failed, 0 not checked\nfailed")
    assert (
        "failed      searches/batchy: check_search: BatchDependentSearch: row 0 changes different features "
        "alone than in a batch"
    ) in message
    assert "failed      constraints/halving: check_constraint: HalvingConstraint.project is not idempotent" in message
    assert (
        "failed      distances/undocumented: registration: factory 'UndocumentedDistance' has no docstring: "
        "`deepaid plugins` shows its first line as the description"
    ) in message


def test_the_report_names_each_failed_check_and_keeps_the_passed_ones(broken_registry):
    report = check_plugin("broken-plugin", registry=broken_registry, raise_on_failure=False)
    assert isinstance(report, CheckReport) and not report.ok
    assert {(r.target, r.check) for r in report.failed} == {
        ("searches/batchy", "check_search"),
        ("searches/batchy", "check_batch_invariance"),
        ("constraints/halving", "check_constraint"),
        ("distances/undocumented", "registration"),
    }
    invariance = report.get("searches/batchy", "check_batch_invariance").detail
    assert invariance.startswith("BatchDependentSearch: row 0 changes [(0,)] alone but [(3,)] at position 0")
    assert report.get("distances/undocumented", "check_distance").status == "passed"
    assert report.get("constraints/halving", "registration").status == "passed"
    assert json.loads(json.dumps(report.to_dict()))["ok"] is False


def test_a_misspelt_hook_fails_the_loaded_check_and_a_plugin_registering_nothing_fails_components():
    class Misspelt:
        @hookimpl
        def register_serches(self, register):
            register("never", BatchDependentSearch)

    class Empty:
        def register_searches(self, register):  # not decorated: pluggy never calls it
            register("never", BatchDependentSearch)

    pm = get_plugin_manager(entry_points=False)
    pm.register(Misspelt(), name="misspelt")
    pm.register(Empty(), name="empty")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm.check_hooks()
    reg = Registry.from_plugin_manager(pm)
    loaded = check_plugin("misspelt", registry=reg, raise_on_failure=False).get("misspelt", "loaded")
    assert loaded.status == "failed"
    assert (
        "deepaid plugin 'misspelt': register_serches is not a deepaid hook (did you mean register_searches?)"
        in loaded.detail
    )
    empty = check_plugin("empty", registry=reg, raise_on_failure=False)
    assert empty.get("empty", "loaded").status == "passed"
    assert empty.get("empty", "components").status == "failed"
    assert "decorated with deepaid_sdk.hookimpl" in empty.get("empty", "components").detail


class SquaredL2(Distance):
    """Squared Euclidean distance: not a metric (no triangle inequality)."""

    name = "squared_l2"

    def _distance(self, a, b):
        return (a - b).pow(2).sum(dim=1)


class ExamplePlugin:
    @hookimpl
    def register_distances(self, register):
        register("squared_l2", SquaredL2)

    @hookimpl
    def register_adapters(self, register):
        register("plain-score", ScoreAdapter)


def test_an_example_passes_options_and_check_arguments_and_bad_keys_are_errors():
    pm = get_plugin_manager(entry_points=False)
    pm.register(ExamplePlugin(), name="example-plugin")
    reg = Registry.from_plugin_manager(pm)
    plain = check_plugin("example-plugin", registry=reg, raise_on_failure=False)
    assert "triangle inequality fails" in plain.get("distances/squared_l2", "check_distance").detail
    not_a_metric = {("distances", "squared_l2"): Example(check={"sample_shape": (4,), "metric": False})}
    assert check_plugin("example-plugin", registry=reg, examples=not_a_metric).ok
    assert plain.get("adapters/plain-score", "conformance").status == "not checked"
    examples = {
        **not_a_metric,
        ("adapters", "plain-score"): Example(
            options={"model": lambda x: x.abs().sum(dim=1), "threshold": 1.0}, check={"batch": torch.randn(5, 3)}
        ),
    }
    with_model = check_plugin("example-plugin", registry=reg, examples=examples)
    assert with_model.get("adapters/plain-score", "check_adapter").status == "passed"
    with pytest.raises(
        ValueError,
        match=r"examples: \('distances', 'squared-l2'\) is not a \(kind, name\) these "
        r"plugins registered; they have: \('adapters', 'plain-score'\), "
        r"\('distances', 'squared_l2'\)",
    ):
        check_plugin("example-plugin", registry=reg, examples={("distances", "squared-l2"): Example()})
    with pytest.raises(
        ValueError,
        match=r"examples\[\('interpreters', 'gradient'\)\]: deepaid_sdk.testing has no "
        r"check for presets",
    ):
        check_plugin("deepaid_sdk.builtins", registry=reg, examples={("interpreters", "gradient"): Example()})
    with pytest.raises(
        TypeError,
        match=r"examples\[\('distances', 'squared_l2'\)\]: expected a "
        r"deepaid_sdk.testing.Example; got dict",
    ):
        check_plugin("example-plugin", registry=reg, examples={("distances", "squared_l2"): {"metric": False}})


def test_check_plugin_leaves_the_global_random_state_alone():
    before = torch.get_rng_state()
    check_plugin("template")
    assert torch.equal(before, torch.get_rng_state())


def test_every_kind_of_component_has_a_check_or_a_stated_reason_for_none():
    from deepaid_sdk.conformance import CHECKED_KINDS, NO_CHECK
    from deepaid_sdk.hookspecs import HOOKS_BY_KIND

    assert set(CHECKED_KINDS) == {"searches", "constraints", "distances", "adapters"}
    assert set(CHECKED_KINDS) | set(NO_CHECK) == set(HOOKS_BY_KIND) and not set(CHECKED_KINDS) & set(NO_CHECK)
