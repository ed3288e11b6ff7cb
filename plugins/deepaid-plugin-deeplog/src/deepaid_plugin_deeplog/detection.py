"""DeepLog detection: sliding windows over sessions, top-g alerts, and session-level P/R/F1."""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import attrs
import numpy as np
import torch
from torch import nn

from deepaid_plugin_deeplog.adapters import DeepLogAdapter
from deepaid_sdk.records import array_field


@attrs.frozen
class Windows:
    """Every (window, next key) pair of a set of sessions, with where each came from."""

    windows: np.ndarray = array_field()
    """``[N, W]`` int64 key windows."""
    next_keys: np.ndarray = array_field()
    """``[N]`` int64 key that followed each window."""
    session: np.ndarray = array_field()
    """``[N]`` index of the session each window belongs to."""
    position: np.ndarray = array_field()
    """``[N]`` index, within its session, of the next key."""
    num_sessions: int
    short: int
    """Sessions too short to give any window (only without padding); reported, never hidden."""

    @property
    def sequences(self) -> np.ndarray:
        """``[N, W+1]``: each window followed by its next key."""
        return np.concatenate([self.windows, self.next_keys[:, None]], axis=1)

    def __len__(self) -> int:
        return int(self.next_keys.shape[0])


def make_windows(sessions: Sequence[Sequence[int] | np.ndarray], window: int, *, pad_key: int | None = None) -> Windows:
    """Slide a window of ``window`` keys over each session; each window predicts the key after it.

    With ``pad_key``, sessions are left-padded by ``window`` pad keys so every key of every session
    is predicted (the first from pads only); without it, sessions of ``window`` keys or fewer give
    no window and are counted in ``short`` (with a warning).
    """
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window: expected a positive integer; got {window!r}")
    parts_w, parts_n, parts_s, parts_p = [], [], [], []
    short = 0
    for i, session in enumerate(sessions):  # data preparation, once per dataset
        seq = np.asarray(session)
        if seq.ndim != 1 or (seq.size and not np.issubdtype(seq.dtype, np.integer)):
            raise TypeError(f"sessions[{i}]: expected a 1-d sequence of integer key ids; got {seq.dtype} {seq.shape}")
        seq = seq.astype(np.int64)
        if pad_key is not None:
            seq = np.concatenate([np.full(window, pad_key, dtype=np.int64), seq])
            offset = window
        else:
            offset = 0
        if seq.size <= window:
            short += 1
            continue
        view = np.lib.stride_tricks.sliding_window_view(seq, window + 1)
        parts_w.append(view[:, :window])
        parts_n.append(view[:, window])
        parts_s.append(np.full(len(view), i, dtype=np.int64))
        parts_p.append(np.arange(window, seq.size, dtype=np.int64) - offset)
    num_sessions = len(sessions)
    if short:
        warnings.warn(
            f"make_windows: {short} of {num_sessions} sessions have {window} keys or fewer and give no "
            "window; pass pad_key= to judge them",
            stacklevel=2,
        )
    if not parts_w:
        empty = np.zeros((0, window), dtype=np.int64)
        return Windows(empty, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), num_sessions, short)
    return Windows(
        np.concatenate(parts_w),
        np.concatenate(parts_n),
        np.concatenate(parts_s),
        np.concatenate(parts_p),
        num_sessions,
        short,
    )


def detect(
    model: nn.Module | DeepLogAdapter,
    windows: Any,
    next_keys: Any,
    *,
    num_candidates: int = 9,
    batch_size: int = 1024,
) -> np.ndarray:
    """``[N]`` bool: DeepLog alerts -- the next key is not among the model's top-g guesses."""
    adapter = model if isinstance(model, DeepLogAdapter) else DeepLogAdapter(model, num_candidates=num_candidates)
    seqs = adapter.prepare_parts(windows, next_keys)
    with torch.no_grad():
        scores = torch.cat([adapter.score(chunk) for chunk in seqs.split(batch_size)])
    return (scores > adapter.threshold).cpu().numpy()


@attrs.frozen
class DetectionMetrics:
    """Session-level detection figures: a session is flagged when any of its windows is."""

    tp: int
    fp: int
    fn: int
    tn: int
    unjudged: int
    """Sessions without any window (too short); counted as not flagged."""

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}


def session_metrics(flags: Any, session: Any, labels: Any) -> DetectionMetrics:
    """Precision, recall and F1 over labelled sessions from per-window alerts.

    :param flags: ``[N]`` bool alert per window. :param session: ``[N]`` session index per window.
    :param labels: ``[S]`` bool, True for an anomalous session.
    """
    flags, session, labels = np.asarray(flags, dtype=bool), np.asarray(session), np.asarray(labels, dtype=bool)
    if flags.shape != session.shape or flags.ndim != 1:
        raise ValueError(f"flags/session: expected two [N] arrays; got {flags.shape} and {session.shape}")
    if session.size and (session.min() < 0 or session.max() >= labels.size):
        raise ValueError(f"session: indices must lie in [0, {labels.size}) (one label per session)")
    flagged = np.zeros(labels.size, dtype=bool)
    np.logical_or.at(flagged, session, flags)
    judged = np.zeros(labels.size, dtype=bool)
    judged[session] = True
    return DetectionMetrics(
        tp=int((flagged & labels).sum()),
        fp=int((flagged & ~labels).sum()),
        fn=int((~flagged & labels).sum()),
        tn=int((~flagged & ~labels).sum()),
        unjudged=int((~judged).sum()),
    )
