"""Deprecated path of ``deepaid_sdk.results.views``."""

from deepaid_sdk._moved import alias

alias(__name__, "deepaid_sdk.results.views")
