"""Deprecated path of ``deepaid_sdk.bench.correlated``."""

from deepaid_sdk._moved import alias

alias(__name__, "deepaid_sdk.bench.correlated")
