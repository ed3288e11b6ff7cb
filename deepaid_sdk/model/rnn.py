"""Gradients through recurrent layers on CUDA, without touching dropout and safe across threads.

cuDNN builds an RNN's backward only in train mode, and the search needs gradients of an eval-mode
model. The two usual fixes are process-wide or change the model: ``torch.backends.cudnn.flags``
(or ``cudnn.enabled = False``) is one global switch, so two interpreters in two threads race on it
(one restores cuDNN while the other still runs a backward, or leaves it off for good). We instead
put only the model's RNN modules in train mode with their inter-layer dropout at 0, so they compute
exactly what eval mode computes, and leave every other module (dropout, batch norm) as the user set
it. Entries are reference-counted per RNN module under one lock: the first user switches, the last
one restores, so concurrent searches on one model never see a half-restored state.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

import torch
from torch import nn

_LOCK = threading.Lock()
#: id(module) -> [users, saved training flag, saved dropout]
_ACTIVE: dict[int, list[Any]] = {}


def rnn_modules(model: nn.Module) -> list[nn.RNNBase]:
    """The ``nn.RNN``/``nn.LSTM``/``nn.GRU`` modules of ``model`` (itself included)."""
    return [m for m in model.modules() if isinstance(m, nn.RNNBase)]


@contextlib.contextmanager
def rnn_train_mode(model: nn.Module) -> Iterator[list[nn.RNNBase]]:
    """Train mode on ``model``'s RNN modules only, their dropout 0; restored when the last user leaves."""
    modules = rnn_modules(model)
    with _LOCK:
        for m in modules:
            entry = _ACTIVE.get(id(m))
            if entry is None:
                _ACTIVE[id(m)] = [1, m.training, m.dropout]
                m.dropout = 0.0
                m.training = True
            else:
                entry[0] += 1
    try:
        yield modules
    finally:
        with _LOCK:
            for m in modules:
                entry = _ACTIVE[id(m)]
                entry[0] -= 1
                if entry[0] == 0:
                    m.training, m.dropout = entry[1], entry[2]
                    del _ACTIVE[id(m)]


def rnn_gradients(model: nn.Module | None, device: Any) -> contextlib.AbstractContextManager[Any]:
    """What a differentiable call of ``model`` on ``device`` runs in: ``rnn_train_mode`` on CUDA with
    gradients enabled and RNN modules present, else nothing (CPU kernels have an eval-mode backward)."""
    if model is None or torch.device(device).type != "cuda" or not torch.is_grad_enabled() or not rnn_modules(model):
        return contextlib.nullcontext()
    return rnn_train_mode(model)
