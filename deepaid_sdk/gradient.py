"""Deprecated path of ``deepaid_sdk.search.gradient``."""

from deepaid_sdk._moved import alias

alias(__name__, "deepaid_sdk.search.gradient")
