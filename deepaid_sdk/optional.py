"""Optional dependencies: import one, or say which extra of deepaid-sdk installs it."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``; if it is missing, raise ``MissingExtraError`` naming ``deepaid-sdk[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        if getattr(exc, "name", None) not in (None, top, module) and not str(exc).startswith(f"No module named '{top}"):
            raise
        raise MissingExtraError(
            f"{module} is needed for this and is not installed; install it with: pip install 'deepaid-sdk[{extra}]'"
        ) from None


def figure_class() -> Any:
    """``matplotlib.figure.Figure`` (no pyplot, so no global state), or a ``MissingExtraError`` naming the
    extra ``plot``."""
    return require("matplotlib.figure", "plot").Figure
