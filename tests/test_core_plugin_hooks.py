"""Misspelt hooks: pluggy's check_pending at load, reported by plugin, function and nearest hook name."""

import sys
import textwrap
import types
import warnings

import pluggy
import pytest

import deepaid_sdk
from deepaid_sdk import hookimpl, plugins
from deepaid_sdk.plugins import get_plugin_manager
from deepaid_sdk.registry import Registry


class MisspeltPlugin:
    """A plugin object whose searches hook is misspelt; its distances hook is fine."""

    @hookimpl
    def register_serches(self, register):
        register("never", object)

    @hookimpl
    def register_distances(self, register):
        register("never_either", object)


def _module_plugin(name: str) -> types.ModuleType:
    """A module-like namespace with a misspelt hook, as an entry point would load it."""
    module = types.ModuleType(name)

    @hookimpl
    def register_serches(register):
        register("never", object)

    module.register_serches = register_serches
    return module


@pytest.mark.parametrize(
    "make", [MisspeltPlugin, lambda: _module_plugin("fake_module_plugin")], ids=["class", "module"]
)
def test_a_misspelt_hook_registered_directly_is_a_failure_naming_plugin_function_and_nearest_hook(make):
    pm = get_plugin_manager(entry_points=False)
    plugin = make()
    pm.register(plugin, name="misspelt")
    with pytest.warns(
        UserWarning,
        match=r"deepaid plugin 'misspelt': register_serches is not a deepaid hook "
        r"\(did you mean register_searches\?\)",
    ):
        pm.check_hooks()
    assert not pm.is_registered(plugin), "the plugin with a misspelt hook is unregistered"
    [failure] = pm.failures
    assert failure.plugin == "misspelt" and failure.distribution is None
    assert failure.error.startswith("PluginValidationError: deepaid plugin 'misspelt': register_serches")
    assert "the hooks are register_adapters, register_benchmarks" in failure.error
    reg = Registry.from_plugin_manager(pm)
    assert "l2" in reg.names("distances") and "never_either" not in reg.names("distances")
    assert reg.failures == [failure]


def test_plain_pluggy_check_pending_would_raise_for_the_same_plugin():
    """The behaviour wrapped: pluggy itself raises, for the first unknown hook only."""
    pm = get_plugin_manager(entry_points=False)
    pm.register(MisspeltPlugin(), name="misspelt")
    with pytest.raises(pluggy.PluginValidationError, match="unknown hook 'register_serches'"):
        pm.check_pending()


def test_a_misspelt_hook_in_a_builtin_is_a_hard_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "fake_builtin_plugin", _module_plugin("fake_builtin_plugin"))
    monkeypatch.setattr(plugins, "DEFAULT_PLUGINS", (*plugins.DEFAULT_PLUGINS, "fake_builtin_plugin"))
    with pytest.raises(
        pluggy.PluginValidationError,
        match=r"deepaid plugin 'fake_builtin_plugin': register_serches is not a deepaid hook "
        r"\(did you mean register_searches\?\)",
    ):
        get_plugin_manager(entry_points=False)


def test_an_argument_the_hookspec_lacks_is_refused_at_register_with_a_clear_message():
    class WrongArgument:
        @hookimpl
        def register_searches(self, registr):
            pass

    pm = get_plugin_manager(entry_points=False)
    with pytest.raises(pluggy.PluginValidationError) as caught:
        pm.register(WrongArgument(), name="wrong-arg")
    assert str(caught.value) == (
        "deepaid plugin 'wrong-arg': register_searches(registr) asks for 'registr', which "
        "register_searches does not pass (did you mean register?); it passes: register"
    )
    assert not pm.has_plugin("wrong-arg")


@pytest.fixture
def misspelt_distribution(tmp_path, monkeypatch):
    """A distribution declaring three entry points: one fine, one misspelt hook, one unknown hook argument."""
    modules = {
        "fake_fine_plugin": '''
            from deepaid_sdk import hookimpl
            from deepaid_sdk.distances import Distance

            class ThreeL1(Distance):
                """Three times the L1 distance."""
                name = "three_l1"
                def _distance(self, a, b):
                    return 3 * (a - b).abs().sum(dim=1)

            @hookimpl
            def register_distances(register):
                register("three_l1", ThreeL1)
        ''',
        "fake_misspelt_plugin": """
            from deepaid_sdk import hookimpl

            @hookimpl
            def register_serches(register):
                register("never", object)
        """,
        "fake_wrong_argument_plugin": """
            from deepaid_sdk import hookimpl

            @hookimpl
            def register_distances(registr):
                registr("never", object)
        """,
    }
    for module, source in modules.items():
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    info = tmp_path / "fake_hooks_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-hooks-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[deepaid]\nfine = fake_fine_plugin\nmisspelt = fake_misspelt_plugin\nwrongarg = fake_wrong_argument_plugin\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    monkeypatch.undo()
    for module in modules:
        sys.modules.pop(module, None)
    deepaid_sdk.registry(refresh=True)


def test_a_misspelt_hook_behind_an_entry_point_is_listed_and_the_others_load(misspelt_distribution, capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg = deepaid_sdk.registry(refresh=True)
    shown = [str(w.message) for w in caught]
    assert any(
        "deepaid plugin 'misspelt' (fake-hooks-plugin): register_serches is not a deepaid hook "
        "(did you mean register_searches?)" in m
        for m in shown
    ), shown
    assert reg.get("distances", "three_l1").provider == "fine"
    assert "misspelt" not in reg.plugins and "never" not in reg.names("searches")
    failures = {f.plugin: f for f in reg.failures}
    assert failures["misspelt"].distribution == "fake-hooks-plugin"
    assert "register_serches is not a deepaid hook (did you mean register_searches?)" in failures["misspelt"].error
    assert failures["wrongarg"].distribution == "fake-hooks-plugin"
    assert (
        "register_distances(registr) asks for 'registr', which register_distances does not pass "
        "(did you mean register?)"
    ) in failures["wrongarg"].error
    from deepaid_sdk.cli import main

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert (
        "FAILED misspelt: PluginValidationError: deepaid plugin 'misspelt' (fake-hooks-plugin): register_serches"
    ) in out
    assert "FAILED wrongarg: PluginValidationError: deepaid plugin 'wrongarg': register_distances(registr)" in out
