"""Progress bars: one library (tqdm) for every long task, silent where nobody is watching.

A bar is shown on stderr only when stderr is a terminal and the caller did not ask for quiet,
so logs, CI and piped output stay clean. Every module that shows progress calls ``progress``.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_enabled(quiet: bool = False) -> bool:
    """Whether a bar would be shown: stderr is a terminal, not ``quiet``, not ``DEEPAID_QUIET=1``."""
    if quiet or os.environ.get("DEEPAID_QUIET", "") not in ("", "0"):
        return False
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def progress(
    iterable: Iterable[T] | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    quiet: bool = False,
    **options: Any,
) -> tqdm[T]:
    """A tqdm bar on stderr with rate and ETA; disabled (a no-op wrapper) when not shown."""
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=not progress_enabled(quiet),
        dynamic_ncols=True,
        **options,
    )
