"""Registers the baseline searches with deepaid (entry point ``baselines``)."""

from __future__ import annotations

from deepaid_baselines.attribution_searches import ATTRIBUTION_SEARCHES
from deepaid_baselines.base import BaselineSearch
from deepaid_baselines.neighbours import NearestNormalSearch
from deepaid_baselines.residual import ResidualSearch
from deepaid_sdk import hookimpl
from deepaid_sdk.hookspecs import Register

#: Every baseline search this package provides.
BASELINE_SEARCHES: tuple[type[BaselineSearch], ...] = (ResidualSearch, NearestNormalSearch, *ATTRIBUTION_SEARCHES)


@hookimpl
def register_searches(register: Register) -> None:
    for search in BASELINE_SEARCHES:
        register(search.name, search)
