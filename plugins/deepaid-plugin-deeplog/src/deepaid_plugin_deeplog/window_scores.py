"""Next-key logits of key windows, each distinct window computed once per interpretation call.

Log sessions repeat the same windows many times (every block runs the same workflow), and the
edit search re-scores windows it has seen in earlier rounds. ``WindowScorer`` keeps the logits of
every distinct window it has computed: a window is encoded as an integer (base ``C``) when
``C ** W`` fits in 62 bits, looked up by binary search, and only the new ones go to the model, in
fixed-size chunks. Without an exact code (huge ``C ** W``) windows are deduplicated per call only.

The edit search scores windows that differ from one another only after some position (every
candidate edit at one place shares the keys before it). A caller may say so: ``shared[i]`` leading
keys of window ``i`` are a prefix worth sharing. For the plugin's own ``DeepLog`` LSTM the scorer
then runs each distinct prefix once, keeps its LSTM state, and runs only the rest of each window from
that state (``prefix_logits``): the same logits (the same LSTM steps, in two calls), about half the
steps for the search's windows. Any other model gets whole windows, as before.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor

from deepaid_plugin_deeplog.adapters import DeepLogAdapter
from deepaid_plugin_deeplog.model import DeepLog

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
        model = adapter.model
        # Only the plugin's own LSTM (its forward is known: out(lstm(x)[:, -1])) resumes from a prefix state.
        self.resumable = (
            type(model) is DeepLog and type(adapter) is DeepLogAdapter and self.exact and model.lstm.batch_first
        )

    def _forward(self, windows: Tensor, shared: Tensor | None = None) -> Tensor:
        self.model_windows += int(windows.shape[0])
        a = self.adapter
        # Always the same path for a resumable model: a switch on how much a call shares would make a
        # row's logits (to the last digits) depend on the other rows of its batch.
        if shared is not None and self.resumable:
            return prefix_logits(cast(DeepLog, a.model), windows, shared, cast(Tensor, self._mult), self.chunk)
        with torch.no_grad():
            parts = [a.logits(a.one_hot(part)).float() for part in windows.split(self.chunk)]
        return torch.cat(parts) if parts else torch.zeros(0, a.num_keys, device=windows.device)

    def logits(self, windows: Tensor, shared: Tensor | None = None) -> Tensor:
        """Next-key logits of every window (int64 ``[N, W]``); ``shared``: leading keys per window that
        many other windows share (a hint, see the module docstring; it never changes a result)."""
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
            pick = first[miss]
            new_logits = self._forward(windows[pick], None if shared is None else shared[pick])
            codes = torch.cat([self._codes, uniq[miss]])
            order = codes.argsort()
            self._codes = codes[order]
            self._logits = torch.cat([self._logits, new_logits])[order]
            where = torch.searchsorted(self._codes, uniq)
        return self._logits[where][inv]


def prefix_logits(model: DeepLog, windows: Tensor, shared: Tensor, mult: Tensor, chunk: int) -> Tensor:
    """``model``'s logits of ``windows [N, W]``, each distinct prefix ``windows[i, :shared[i]]`` run once.

    Windows are grouped by prefix length; per group the distinct prefixes (base-``C`` codes, ``mult``)
    go through the LSTM, and each window's remaining keys continue from its prefix's final state.
    """
    w, c = model.window, model.num_keys
    out = torch.empty(windows.shape[0], c, device=windows.device)
    cut = shared.clamp(0, w)
    with torch.no_grad():
        for n in torch.unique(cut).tolist():  # at most W + 1 prefix lengths
            rows = (cut == n).nonzero().flatten()
            grp = windows[rows]
            state = None
            if n:
                code = (grp[:, :n] * mult[w - n :]).sum(dim=1)
                uniq, inv = torch.unique(code, return_inverse=True)
                first = torch.full((len(uniq),), len(grp), dtype=torch.int64, device=grp.device)
                first.scatter_reduce_(0, inv, torch.arange(len(grp), device=grp.device), reduce="amin")
                states = [model.lstm(_one_hot(part, c))[1] for part in grp[first, :n].split(chunk)]
                h, cc = torch.cat([s[0] for s in states], dim=1), torch.cat([s[1] for s in states], dim=1)
                state = (h[:, inv], cc[:, inv])
            if n == w:
                out[rows] = model.out(cast(tuple[Tensor, Tensor], state)[0][-1]).float()
                continue
            for start in range(0, len(grp), chunk):  # the rest of each window, from its prefix's state
                part = _one_hot(grp[start : start + chunk, n:], c)
                hc = None if state is None else (state[0][:, start : start + chunk], state[1][:, start : start + chunk])
                y, _ = model.lstm(part, hc)
                out[rows[start : start + chunk]] = model.out(y[:, -1]).float()
    return out


def _one_hot(keys: Tensor, c: int) -> Tensor:
    return torch.nn.functional.one_hot(keys, c).to(torch.float32)
