"""Next-key logits of key windows, each distinct window computed once per interpretation call.

Log sessions repeat the same windows many times (every block runs the same workflow), and the
edit search re-scores windows it has seen in earlier rounds. ``WindowScorer`` keeps the logits of
every distinct window it has computed: a window is encoded as an integer (base ``C``) when
``C ** W`` fits in 62 bits, looked up by binary search, and only the new ones go to the model, in
fixed-size chunks. Without an exact code (huge ``C ** W``) windows are deduplicated per call only.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor

from deepaid_plugin_deeplog.adapters import DeepLogAdapter

#: Windows per model call (small chunks keep an LSTM's working set in a CPU's cache).
CHUNK = 1024


class WindowScorer:
    """Logits ``[N, C]`` for key windows ``[N, W]``, with a cache of distinct windows."""

    def __init__(self, adapter: DeepLogAdapter, chunk: int | None = None) -> None:
        self.adapter = adapter
        self.chunk = int(CHUNK if chunk is None else chunk)
        c, w = adapter.num_keys, adapter.window
        self.exact = w * math.log2(c) < 62
        dev = adapter.device
        self._mult = (
            torch.tensor(c, dtype=torch.int64, device=dev) ** torch.arange(w - 1, -1, -1, device=dev)
            if self.exact
            else None
        )
        self._codes = torch.zeros(0, dtype=torch.int64, device=dev)
        self._logits = torch.zeros(0, c, device=dev)
        self.model_windows = 0
        """Windows sent to the model so far (the cache's misses)."""

    def _forward(self, windows: Tensor) -> Tensor:
        self.model_windows += int(windows.shape[0])
        a = self.adapter
        with torch.no_grad():
            parts = [a.logits(a.one_hot(part)).float() for part in windows.split(self.chunk)]
        return torch.cat(parts) if parts else torch.zeros(0, a.num_keys, device=windows.device)

    def logits(self, windows: Tensor) -> Tensor:
        """Next-key logits of every window (int64 ``[N, W]``)."""
        if windows.shape[0] == 0:
            return torch.zeros(0, self.adapter.num_keys, device=windows.device)
        if not self.exact:
            uniq, inv = torch.unique(windows, dim=0, return_inverse=True)
            return self._forward(uniq)[inv]
        code = (windows * cast(Tensor, self._mult)).sum(dim=1)  # set whenever exact
        uniq, inv = torch.unique(code, return_inverse=True)
        where = torch.searchsorted(self._codes, uniq)
        hit = where < len(self._codes)
        hit[hit.clone()] = self._codes[where[hit]] == uniq[hit]
        if not bool(hit.all()):
            first = torch.full((len(uniq),), windows.shape[0], dtype=torch.int64, device=windows.device)
            first.scatter_reduce_(0, inv, torch.arange(windows.shape[0], device=windows.device), reduce="amin")
            miss = (~hit).nonzero().flatten()
            # Decode-free: the first window of each missing code goes to the model.
            new_logits = self._forward(windows[first[miss]])
            codes = torch.cat([self._codes, uniq[miss]])
            order = codes.argsort()
            self._codes = codes[order]
            self._logits = torch.cat([self._logits, new_logits])[order]
            where = torch.searchsorted(self._codes, uniq)
        return self._logits[where][inv]
