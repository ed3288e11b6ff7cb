"""The plugin host: built-ins, direct registration, entry-point discovery, broken plugins."""

import json
import sys
import textwrap
import warnings

import pytest
import torch

import deepaid_sdk
from deepaid_sdk import hookimpl
from deepaid_sdk.distances import Distance
from deepaid_sdk.hookspecs import HOOKS_BY_KIND
from deepaid_sdk.plugins import get_plugin_manager
from deepaid_sdk.registry import Registry, RegistryError


class ChebyshevTimesTwo(Distance):
    name = "twice_linf"

    def _distance(self, a, b):
        return 2 * (a - b).abs().amax(dim=1)


class DirectPlugin:
    @hookimpl
    def register_distances(self, register):
        register("twice_linf", ChebyshevTimesTwo)


def test_builtins_register_through_the_hooks():
    reg = Registry.from_plugin_manager(get_plugin_manager(entry_points=False))
    assert reg.names("constraints") == ["box", "conciseness", "fidelity", "frozen", "integer", "onehot", "stability"]
    assert reg.names("distances") == ["hamming", "l0", "l1", "l2", "linf"]
    assert reg.names("searches") == ["blackbox", "gradient"]
    assert {c.provider for c in reg.iter("constraints")} == {"deepaid_sdk.builtins"}


def test_every_hook_is_documented_and_listed():
    import inspect
    import pathlib

    from deepaid_sdk import hookspecs

    guide = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "plugin-authors.md").read_text()
    declared = {name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_")}
    assert declared == set(HOOKS_BY_KIND.values())  # every hook spec is a registry kind, and back
    for hook in HOOKS_BY_KIND.values():
        spec = getattr(hookspecs, hook)
        assert 'register("' in (spec.__doc__ or ""), f"{hook}: its docstring shows no register(...) call"
        assert f"| `{hook}` |" in guide, f"{hook}: missing from the hook table of docs/plugin-authors.md"


def test_registering_a_plugin_object_directly():
    pm = get_plugin_manager(entry_points=False)
    pm.register(DirectPlugin(), name="direct")
    try:
        reg = Registry.from_plugin_manager(pm)
        comp = reg.get("distances", "twice_linf")
        assert comp.provider == "direct"
        d = reg.build("distances", "twice_linf", Distance)
        assert d(torch.zeros(1, 2), torch.tensor([[1.0, -3.0]])).item() == 6
    finally:
        pm.unregister(name="direct")
    assert "twice_linf" not in Registry.from_plugin_manager(pm).names("distances")


def test_duplicate_names_name_both_providers():
    class Dup:
        @hookimpl
        def register_distances(self, register):
            register("l2", ChebyshevTimesTwo)

    pm = get_plugin_manager(entry_points=False)
    pm.register(Dup(), name="dup-plugin")
    with pytest.raises(RegistryError, match=r"'l2' is registered twice: by deepaid_sdk.builtins and by dup-plugin"):
        Registry.from_plugin_manager(pm)


def test_unknown_name_lists_what_exists():
    reg = Registry.from_plugin_manager(get_plugin_manager(entry_points=False))
    with pytest.raises(RegistryError, match=r"unknown distance 'l3'; registered: hamming \(deepaid_sdk.builtins\)"):
        reg.get("distances", "l3")


def test_a_hook_that_raises_is_reported_and_others_still_register():
    class Broken:
        @hookimpl
        def register_distances(self, register):
            raise RuntimeError("boom")

    pm = get_plugin_manager(entry_points=False)
    pm.register(Broken(), name="broken")
    with pytest.warns(UserWarning, match="broken"):
        reg = Registry.from_plugin_manager(pm)
    assert "l2" in reg.names("distances")
    assert reg.failures[0].plugin == "broken" and "boom" in reg.failures[0].error


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch):
    """A distribution on sys.path (dist-info + module) declaring entry points in group deepaid."""
    (tmp_path / "fake_deepaid_plugin.py").write_text(
        textwrap.dedent('''
        from deepaid_sdk import hookimpl
        from deepaid_sdk.distances import Distance

        class ManhattanHalf(Distance):
            """Half the L1 distance (a third-party distance)."""
            name = "half_l1"
            def _distance(self, a, b):
                return 0.5 * (a - b).abs().sum(dim=1)

        @hookimpl
        def register_distances(register):
            register("half_l1", ManhattanHalf)
    ''')
    )
    info = tmp_path / "fake_deepaid_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-deepaid-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[deepaid]\nhalf = fake_deepaid_plugin\nbroken = fake_missing_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    monkeypatch.undo()
    sys.modules.pop("fake_deepaid_plugin", None)
    deepaid_sdk.registry(refresh=True)


def test_entry_point_discovery_reports_broken_plugins_and_loads_the_rest(fake_distribution):
    with pytest.warns(UserWarning, match="fake_missing_module_xyz"):
        reg = deepaid_sdk.registry(refresh=True)
    comp = reg.get("distances", "half_l1")
    assert comp.provider == "half"
    assert reg.plugins["half"] == "fake-deepaid-plugin"
    failure = next(f for f in reg.failures if f.plugin == "broken")
    assert failure.distribution == "fake-deepaid-plugin"
    assert "ModuleNotFoundError" in failure.error
    # usable by name from create(...) options
    interp = deepaid_sdk.create(
        "gradient",
        model=lambda x: x.abs().sum(dim=1),
        threshold=1.0,
        distance="half_l1",
        sample_shape=(3,),
        adapter_options={"device": "cpu"},
    )
    assert type(interp.distance).__name__ == "ManhattanHalf"
    listing = json.loads(json.dumps(reg.to_dict()))
    half = next(p for p in listing["plugins"] if p["name"] == "half")
    assert half["components"]["distances"] == ["half_l1"]


def test_block_list_skips_a_plugin(fake_distribution, monkeypatch):
    monkeypatch.setenv("DEEPAID_BLOCK_PLUGINS", "half,broken")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg = deepaid_sdk.registry(refresh=True)
    assert "half_l1" not in reg.names("distances")
    assert not [w for w in caught if "fake_missing_module_xyz" in str(w.message)]
    assert "broken" not in [f.plugin for f in reg.failures]


PLUGIN_MODULES = {"plugin.py", "adapters.py", "preset.py", "bench.py", "demo.py"}
OLD_NAMES = {"adapter.py", "interpreter.py", "benchmark.py"}


@pytest.mark.parametrize("name", ["tabular", "kitsune", "deeplog", "multits", "glgv"])
def test_every_plugin_keeps_the_one_layout(name):
    import importlib
    import inspect
    import pathlib

    root = (
        pathlib.Path(__file__).resolve().parents[1]
        / "plugins"
        / f"deepaid-plugin-{name}"
        / "src"
        / f"deepaid_plugin_{name}"
    )
    modules = {p.name for p in root.glob("*.py")}
    assert PLUGIN_MODULES <= modules, sorted(PLUGIN_MODULES - modules)
    assert not OLD_NAMES & modules, sorted(OLD_NAMES & modules)
    bench = importlib.import_module(f"deepaid_plugin_{name}.bench").run
    assert list(inspect.signature(bench).parameters)[:4] == ["n", "seed", "device", "out"]
    demo = importlib.import_module(f"deepaid_plugin_{name}.demo").run
    first, *rest = inspect.signature(demo).parameters.values()
    assert first.name == "out_dir"
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY or p.default is not inspect.Parameter.empty for p in rest)
    reg = deepaid_sdk.registry()
    # Registered lazily (imported only when run), and what they load is the plugin's bench and demo.
    assert reg.get("benchmarks", name).factory.load() is bench
    assert reg.get("demos", name).factory.load() is demo
