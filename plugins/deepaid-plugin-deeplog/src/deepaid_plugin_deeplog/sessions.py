"""Whole-session DeepLog interpretation: the fewest key edits that make every window of a session normal.

A session is a whole key sequence. With a pad key (the usual DeepLog set-up) it is left-padded by
``W`` pad keys, so every key is predicted from the ``W`` before it; without one, keys ``W..L-1``
are. A position is *flagged* when its key is outside the model's top-g guesses there.

The search runs in rounds, batched over every session that still has a flag:

1. Every window of every session is scored (distinct windows once, see ``window_scores``).
2. Every single edit that can make the session normal is tried (``session_fixes``): each deletion,
   and each replacement and insertion by one of the model's top-g guesses, at the ``W + 1``
   positions of the first flagged window; a cascade over the windows each edit changes keeps
   those that leave every window normal. A session with such a fix gets the most likely one (by
   ``rule``: the edited session's log-likelihood and a prior on the kind of edit). In the
   first round their number (``alternatives``, distinct edited sessions) and the ``next_best``
   runners-up are recorded: an analyst sees "one of 201 equally valid fixes".
3. A session that no single edit makes normal gets the edit that leaves the fewest flags:
   candidates from the first flagged position ``j`` and the ``W`` positions before it (replace
   the key at ``j`` by, or insert before it, one of the top-g keys there; delete any key; replace
   or insert one of the ``expected`` top keys at a position whose key is not the model's top
   guess, ``suspects``), screened by one window each (an edit before ``j`` must make the key at
   ``j`` normal), the ``screen`` best scored on the ``W + 1`` windows they change. The fewest
   flagged windows win; ties go to the fewest new flags, the most typical edited session, then
   replace < insert < delete, then the edit nearest the flag. It is applied only if it lowers the
   number of flags; a session stops when it has none, or when no candidate helps.

After at most ``k`` rounds, edits that are not needed (undoing one leaves every window normal) are
dropped, one at a time. Each remaining edit reports the flagged positions it fixes: those that
alert again when it alone is undone.

This module holds the entry point (``SessionSearch``) and the input checks; the rounds are in
``session_rounds``, the single-edit fixes in ``session_fixes``, the pruning and the result assembly in
``session_results``; ``session_oracle`` is the exhaustive reference the benchmark compares to.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import torch

from deepaid_plugin_deeplog.adapters import DeepLogAdapter
from deepaid_plugin_deeplog.edits import SessionBatch
from deepaid_plugin_deeplog.session_fixes import RULES

# The rounds and the result assembly have their own modules; the edit kinds stay importable from here.
from deepaid_plugin_deeplog.session_results import session_results
from deepaid_plugin_deeplog.session_rounds import DELETE, INSERT, REPLACE, SessionRounds  # noqa: F401
from deepaid_sdk.checks import check_finite_number, check_positive_int

#: Default ``length_bonus``. DeepLog's surprise of a session grows with every key it predicts, so
#: between "delete the odd key" and "replace it" a plain sum picks the shorter session; on the
#: synthetic workflow logs a bonus of 0.1 nats per key balances replace and delete/insert
#: explanations (``deepaid bench deeplog``, sessions cases).
LENGTH_BONUS = 0.1
#: Default ``screen``: candidates per session scored in full after the one-window probe.
SCREEN = 12
#: Default ``next_best``: runner-up single-edit fixes reported per session.
NEXT_BEST = 3


def prepare_sessions(
    adapter: DeepLogAdapter, sessions: Any, name: str = "sessions", *, pad: bool = False
) -> list[np.ndarray]:
    """Sessions as 1-d int64 arrays (ragged allowed) of valid key ids: at least ``W + 1`` of them, or one
    with ``pad`` (the pad keys before the first key make its windows)."""
    if isinstance(sessions, torch.Tensor):
        sessions = sessions.detach().cpu().numpy()
    if isinstance(sessions, np.ndarray) and sessions.dtype != object:
        if sessions.ndim != 2:
            raise ValueError(
                f"{name}: expected a batch of sessions (a list of key sequences or an int array "
                f"[S, L]); got an array of shape {list(sessions.shape)}"
                + (" (wrap one session in a list)" if sessions.ndim == 1 else "")
            )
        rows: Sequence[Any] = list(sessions)
    elif isinstance(sessions, (list, tuple, np.ndarray)):
        rows = list(sessions)
    else:
        raise TypeError(
            f"{name}: expected a list of key sequences or an int array [S, L]; got {type(sessions).__name__}"
        )
    if not rows:
        raise ValueError(f"{name}: expected at least one session; got none")
    out = []
    w, c = adapter.window, adapter.num_keys
    for i, row in enumerate(rows):  # input checks, once per call
        arr = np.asarray(row.detach().cpu() if isinstance(row, torch.Tensor) else row)
        if arr.ndim != 1 or arr.dtype == object or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(
                f"{name}[{i}]: expected a 1-d sequence of integer key ids; got dtype {arr.dtype}, "
                f"shape {list(arr.shape)}"
            )
        least = 1 if pad else w + 1
        if arr.size < least:
            raise ValueError(
                f"{name}[{i}]: expected a session of at least "
                f"{'one key' if pad else f'window + 1 = {w + 1} keys (or pad=True)'}; got {arr.size}"
            )
        if arr.min() < 0 or arr.max() >= c:
            raise ValueError(f"{name}[{i}]: key ids must lie in [0, {c}); got min {arr.min()}, max {arr.max()}")
        out.append(arr.astype(np.int64))
    return out


class SessionSearch:
    """The session edit search (see the module docstring).

    :param expected: top guesses tried per position before the flag (replace by / insert).
    :param suspects: a position before the flag is a replace/insert site only when its key's rank
        among the model's guesses there is at least this (1: not the top guess; 0: every position).
    :param screen: candidates per session scored in full after a one-window probe (0: all of them).
    :param length_bonus: nats of surprise credited per predicted key when comparing edited sessions
        of different lengths (0: plain sum, which favours deleting; see ``LENGTH_BONUS``).
    :param next_best: runner-up single-edit fixes reported per session (``SessionInterpretation.next_best``).
    :param rule: how single-edit fixes are ranked: ``"channel"`` (log-likelihood and a prior on the
        kind of edit) or ``"likelihood"`` (the plain log-likelihood); see ``session_fixes``.
    """

    name = "deeplog-sessions"

    def __init__(
        self,
        expected: int = 2,
        suspects: int = 1,
        length_bonus: float = LENGTH_BONUS,
        screen: int = SCREEN,
        next_best: int = NEXT_BEST,
        rule: str = "channel",
    ) -> None:
        self.expected = check_positive_int(expected, "expected")
        self.screen = check_positive_int(screen, "screen", minimum=0)
        self.suspects = check_positive_int(suspects, "suspects", minimum=0)
        self.length_bonus = check_finite_number(length_bonus, "length_bonus")
        self.next_best = check_positive_int(next_best, "next_best", minimum=0)
        if rule not in RULES:
            raise ValueError(f"rule: expected one of {RULES}; got {rule!r}")
        self.rule = rule

    def describe(self) -> dict[str, Any]:
        return {
            "search": self.name,
            "expected": self.expected,
            "suspects": self.suspects,
            "length_bonus": self.length_bonus,
            "screen": self.screen,
            "next_best": self.next_best,
            "rule": self.rule,
        }

    def search(self, adapter: DeepLogAdapter, sessions: Any, k: int, pad: bool | None = None) -> SessionBatch:
        """Explain every session of ``sessions`` (see ``prepare_sessions``) with at most ``k`` edits each."""
        if not isinstance(adapter, DeepLogAdapter):
            raise TypeError(f"adapter: expected a DeepLogAdapter; got {type(adapter).__name__}")
        k = check_positive_int(k, "k")
        if pad is None:
            pad = adapter.pad_key is not None
        if pad and adapter.pad_key is None:
            raise ValueError("pad: padding needs the adapter's pad_key; got pad=True with pad_key=None")
        seqs = prepare_sessions(adapter, sessions, pad=bool(pad))
        started = time.perf_counter()
        state = SessionRounds(adapter, seqs, k, bool(pad), self)
        state.run()
        results = session_results(state)
        params = {
            **self.describe(),
            "k": k,
            "pad": bool(pad),
            "num_candidates": adapter.num_candidates,
            "window": adapter.window,
        }
        return SessionBatch(
            results=tuple(results), seconds=time.perf_counter() - started, method=self.name, params=params
        )
