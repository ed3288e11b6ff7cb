"""Deprecated path of ``deepaid_sdk.bench``: its modules keep their old names for one release, with a warning."""

import warnings

warnings.warn(
    "deepaid_sdk.benchmarks moved to deepaid_sdk.bench; import it from there (the old path goes in deepaid-sdk 0.3)",
    DeprecationWarning,
    stacklevel=2,
)
