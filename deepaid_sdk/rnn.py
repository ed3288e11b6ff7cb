"""Deprecated path of ``deepaid_sdk.model.rnn``."""

from deepaid_sdk._moved import alias

alias(__name__, "deepaid_sdk.model.rnn")
