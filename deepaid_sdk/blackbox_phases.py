"""Deprecated path of ``deepaid_sdk.search.blackbox_run``."""

from deepaid_sdk._moved import alias

alias(__name__, "deepaid_sdk.search.blackbox_run")
