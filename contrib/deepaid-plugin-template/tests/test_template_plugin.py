"""The template plugin: discovered through its installed entry point and held to the conformance suite."""

import pytest
import torch

import deepaid_sdk
from deepaid_sdk.testing import check_distance

from deepaid_plugin_template import CanberraDistance


def test_canberra_conforms():
    check_distance(CanberraDistance(), sample_shape=(6,))
    check_distance(CanberraDistance(), sample_shape=(2, 3))


def test_canberra_values():
    d = CanberraDistance()
    assert d(torch.tensor([[1.0, 0.0, 2.0]]), torch.tensor([[3.0, 0.0, 2.0]])).item() == pytest.approx(0.5)


def test_installed_entry_point_is_discovered_and_usable_by_name():
    reg = deepaid_sdk.registry(refresh=True)
    component = reg.get("distances", "canberra")
    assert component.provider == "template"
    assert reg.plugins["template"] == "deepaid-plugin-template"
    interp = deepaid_sdk.create("gradient", model=lambda x: x.abs().sum(dim=1), threshold=1.0, k=1,
                                sample_shape=(3,), distance="canberra", adapter_options={"device": "cpu"})
    assert isinstance(interp.distance, CanberraDistance)
    assert interp.interpret(torch.tensor([0.1, 2.0, 0.1])).changed.tolist() == [1]
