"""Old import paths of modules that moved into packages: they keep working for one release, with a warning."""

from __future__ import annotations

import importlib
import sys
import warnings


def alias(old: str, new: str) -> None:
    """Make module ``old`` the same object as ``new`` and warn that ``old`` goes in the next release."""
    warnings.warn(
        f"{old} moved to {new}; import it from there (the old path goes in deepaid-sdk 0.3)",
        DeprecationWarning,
        stacklevel=3,
    )
    sys.modules[old] = importlib.import_module(new)
