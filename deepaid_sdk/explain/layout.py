"""How rows of a file become the detector's samples: one row per sample, or sliding windows of rows.

The layout follows the interpreter's sample shape, never the preset's name: ``[D]`` samples are rows,
``[W, D]`` samples (a time-series detector reading W consecutive steps) are windows of W rows, one per
window end, so a window needs the ``W - 1`` rows before it (carried from the previous chunk). Rows with
no full window before them (the first ``W - 1`` of the file) have no record.
"""

from __future__ import annotations

import attrs
import numpy as np


@attrs.frozen
class Layout:
    """``window`` rows per sample (1: a sample is one row)."""

    window: int = 1

    @classmethod
    def of(cls, sample_shape: tuple[int, ...] | None, width: int) -> Layout:
        """The layout for an adapter's ``sample_shape`` and ``width`` values per input row."""
        if sample_shape is None or tuple(sample_shape) == (width,):
            return cls(1)
        if len(sample_shape) == 2 and sample_shape[1] == width:
            return cls(int(sample_shape[0]))
        raise ValueError(
            f"columns: the detector's samples have shape {list(sample_shape)}; rows of {width} values "
            f"make samples [{width}] or windows [W, {width}] (pass --columns to choose them)"
        )

    @property
    def context(self) -> int:
        """Rows before a chunk that its first windows need."""
        return self.window - 1

    def samples(self, x: np.ndarray, ids: np.ndarray, context_rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Samples and their ids from ``x [R, D]`` whose first ``context_rows`` rows are context only."""
        if self.window == 1:
            return x[context_rows:], ids[context_rows:]
        if x.shape[0] < self.window:
            return x[:0, None].repeat(self.window, axis=1), ids[:0]
        windows = np.lib.stride_tricks.sliding_window_view(x, self.window, axis=0).transpose(0, 2, 1)
        ends = ids[self.window - 1 :]
        keep = max(0, context_rows - (self.window - 1))
        return np.ascontiguousarray(windows[keep:]), ends[keep:]
