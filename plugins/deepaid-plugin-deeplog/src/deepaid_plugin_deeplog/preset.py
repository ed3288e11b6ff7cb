"""The ``deeplog`` interpreter preset: ``interpret_batch(windows, next_keys=...)`` over a DeepLog model."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import attrs
import numpy as np
from torch import nn

from deepaid_plugin_deeplog.adapters import DeepLogAdapter
from deepaid_plugin_deeplog.edits import SessionBatch
from deepaid_plugin_deeplog.search import DeepLogSearch, change_details
from deepaid_plugin_deeplog.sessions import LENGTH_BONUS, NEXT_BEST, SessionSearch
from deepaid_sdk import Interpretation, InterpretationBatch, Interpreter, ReferenceSearch, build_constraints
from deepaid_sdk.constraints import max_changes
from deepaid_sdk.distances import Distance
from deepaid_sdk.interpreter import TableView
from deepaid_sdk.preset_options import DEVICE, SEARCH, SEARCH_OPTIONS, K, Option, Preset
from deepaid_sdk.registry import registry


@attrs.define(eq=False)
class DeepLogInterpreter(Interpreter):
    """Explains DeepLog alerts: each anomaly is a window ``[W]`` of key ids and the next key.

    Results hold sequences of ``W + 1`` keys (position ``W`` is the next key); each
    ``details`` entry says whether the next key or the window was blamed and gives the
    templates of the changed keys.
    """

    def interpret_batch(self, X: Any, *, strict_columns: bool = False, next_keys: Any = None) -> InterpretationBatch:
        """Explain every alert of windows ``X [B, W]`` with ``next_keys [B]``, or of sequences ``X [B, W+1]``.

        ``strict_columns`` is the base signature's; key sequences have no columns to match.
        """
        windows = X
        adapter = self.adapter
        if not isinstance(adapter, DeepLogAdapter):
            raise TypeError(f"adapter: expected a DeepLogAdapter; got {type(adapter).__name__}")
        seqs = adapter.prepare(windows, "windows") if next_keys is None else adapter.prepare_parts(windows, next_keys)
        if isinstance(self.search, DeepLogSearch):
            # The deeplog search judges every row in its own first pass: no separate normality check.
            return self.search.search(adapter, seqs, self.constraints, self.distance)
        batch = super().interpret_batch(seqs)
        # Rows the detector already accepted come back unchanged: say so in their details.
        details = tuple(
            d if d else {"verdict": "normal", "changes": change_details(adapter, a, r, c)}
            for d, a, r, c in zip(batch.details or ({},) * len(batch), batch.anomalies, batch.references, batch.changed)
        )
        return attrs.evolve(batch, details=details)

    def interpret_sessions(
        self,
        sessions: Any,
        *,
        k: int | None = None,
        pad: bool | None = None,
        expected: int = 2,
        suspects: int = 1,
        length_bonus: float = LENGTH_BONUS,
        next_best: int = NEXT_BEST,
        rule: str = "channel",
    ) -> SessionBatch:
        """Explain whole sessions (key sequences of >= W + 1 keys, ragged allowed) by the fewest
        replace/insert/delete edits, at most ``k`` (default: the preset's ``k``), that make every
        window normal. ``pad`` left-pads by ``W`` pad keys (default: when the adapter has a pad key).
        Each result also says how many distinct single edits make the session normal (``alternatives``)
        and gives the ``next_best`` runners-up with their log-likelihoods; ``rule`` ranks those fixes
        (``"channel"`` or ``"likelihood"``, see ``deepaid_plugin_deeplog.session_fixes``).
        See ``deepaid_plugin_deeplog.sessions``."""
        adapter = self.adapter
        if not isinstance(adapter, DeepLogAdapter):
            raise TypeError(f"adapter: expected a DeepLogAdapter; got {type(adapter).__name__}")
        budget = (max_changes(self.constraints) or 1) if k is None else k
        search = SessionSearch(
            expected=expected, suspects=suspects, length_bonus=length_bonus, next_best=next_best, rule=rule
        )
        return search.search(adapter, sessions, budget, pad)

    def table_view(self, result: Interpretation | InterpretationBatch) -> TableView:
        """Positions named ``position i`` and ``next key``; keys shown as ``3 -> 6``, not as a difference."""
        w = (result.anomalies if isinstance(result, InterpretationBatch) else result.anomaly).shape[-1] - 1
        return TableView([f"position {p}" for p in range(w)] + ["next key"], categorical=True)

    def interpret(self, x: Any, *, strict_columns: bool = False, next_key: Any = None) -> Interpretation:
        """Explain one alert: a window ``x [W]`` and its ``next_key`` (or one sequence ``x [W+1]``)."""
        window = x
        w = np.asarray(window) if not hasattr(window, "detach") else window.detach().cpu().numpy()
        if w.ndim != 1:
            raise ValueError(
                f"window: expected one window of key ids [W] (or [W+1] without next_key); got shape "
                f"{list(w.shape)} (use interpret_batch for a batch)"
            )
        if next_key is None:
            return self.interpret_batch(w[None])[0]
        n = np.asarray(next_key)
        if n.ndim != 0:
            raise ValueError(
                f"next_key: expected one key id; got shape {list(n.shape)} (use interpret_batch for a batch)"
            )
        return self.interpret_batch(w[None], next_keys=n[None])[0]


def deeplog_interpreter(
    model: nn.Module | DeepLogAdapter,
    *,
    num_candidates: int = 9,
    k: int = 1,
    templates: Mapping[int, str] | None = None,
    num_keys: int | None = None,
    window: int | None = None,
    pad_key: int | None = None,
    unknown_key: int | None = None,
    frozen: Sequence[int] | None = None,
    search: Any = "deeplog",
    search_options: dict[str, Any] | None = None,
    device: Any = None,
) -> DeepLogInterpreter:
    """DeepLog preset: top-g adapter, the ``deeplog`` search, at most ``k`` window replacements.

    :param model: an ``nn.Module`` ``[B, W, C]`` one-hot -> ``[B, C]`` logits, or a ``DeepLogAdapter``.
    :param frozen: positions (0..W, W = next key) a reference must not change.
    """
    reg = registry()
    if isinstance(model, DeepLogAdapter):
        adapter = model
    else:
        adapter = DeepLogAdapter(
            model,
            num_candidates=num_candidates,
            num_keys=num_keys,
            window=window,
            templates=templates,
            pad_key=pad_key,
            unknown_key=unknown_key,
            device=device,
        )
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= adapter.window:
        raise ValueError(f"k: expected a number of window replacements in [1, {adapter.window}]; got {k!r}")
    return DeepLogInterpreter(
        adapter=adapter,
        search=reg.build("searches", search, ReferenceSearch, **(search_options or {})),
        constraints=build_constraints(k=int(k), frozen=frozen, reg=reg),
        distance=reg.build("distances", "hamming", Distance),
        name="deeplog",
    )


#: The options ``create("deeplog", ...)`` takes (``deepaid plugins`` lists them).
DEEPLOG_PRESET = Preset(
    deeplog_interpreter,
    (
        Option("num_candidates", 9, "int", "g: an alert when the next key is not among the model's top g"),
        K.but(default=1, doc="at most this many positions change"),
        Option("templates", None, "{key: template}", "log templates, to print keys as text"),
        Option("num_keys", None, "int", "size of the key vocabulary (default: the model's)"),
        Option("window", None, "int", "W, the keys the model reads (default: the model's)"),
        Option("pad_key", None, "int", "the key that pads short sessions"),
        Option("unknown_key", None, "int", "the key of templates the model never saw"),
        Option("frozen", None, "list of positions", "positions (0..W, W = next key) a reference must not change"),
        SEARCH.but(default="deeplog", doc="the reference search"),
        SEARCH_OPTIONS,
        DEVICE,
    ),
)
