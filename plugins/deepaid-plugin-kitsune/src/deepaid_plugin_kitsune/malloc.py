"""glibc's allocator kept from holding a streamed capture's freed chunks: a fixed mmap threshold.

glibc serves a block larger than ``M_MMAP_THRESHOLD`` (128 KiB) with its own ``mmap``, given back to the
system when freed; but each time such a block is freed it raises the threshold to that block's size (up to
32 MiB). After the first chunk, then, AfterImage's chunk-sized arrays come from the heap, whose freed pieces
stay resident and fragment: the staged pass's peak RSS crept up with the capture's length (438 -> 462 MB
from 100,000 to 1,000,000 packets) though the arrays it holds did not. ``mallopt(M_MMAP_THRESHOLD, ...)``
fixes the threshold (and ends the raising): 388 -> 392 MB on the same capture. Process-wide, performance
only (no value changes); a threshold the user set (``MALLOC_MMAP_THRESHOLD_``) is left alone.
"""

from __future__ import annotations

import ctypes
import os
import platform

#: glibc's ``mallopt`` parameter number of ``M_MMAP_THRESHOLD``.
M_MMAP_THRESHOLD = -3
#: glibc's default threshold: blocks above it are mmap'd.
THRESHOLD = 128 * 1024
ENV = "MALLOC_MMAP_THRESHOLD_"


def fix_mmap_threshold(size: int = THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``size`` bytes; False where nothing was done (not glibc, or set by
    the user's environment)."""
    if ENV in os.environ or platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, int(size)))
