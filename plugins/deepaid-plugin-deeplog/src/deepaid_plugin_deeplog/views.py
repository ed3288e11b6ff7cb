"""Views over DeepLog interpretations: the side-by-side table and an optional plot."""

from __future__ import annotations

import pathlib
from typing import Any, Mapping

import numpy as np

from deepaid_sdk import Interpretation, InterpretationBatch
from deepaid_sdk.results.views import format_table


def _template(templates: Mapping[int, str] | None, key: int, width: int) -> str:
    text = templates.get(int(key), f"key {key}") if templates is not None else f"key {key}"
    return text if len(text) <= width else text[: width - 3] + "..."


def side_by_side(
    interp: Interpretation,
    templates: Mapping[int, str] | None = None,
    *,
    details: Mapping[str, Any] | None = None,
    width: int = 56,
) -> str:
    """Anomalous sequence and reference side by side, one row per position, changed rows marked ``!=``.

    The last position is the next key. ``details`` (the batch's entry for this row) adds the verdict.
    """
    anomaly, reference = np.asarray(interp.anomaly), np.asarray(interp.reference)
    if anomaly.ndim != 1 or anomaly.shape != reference.shape:
        raise ValueError(f"interp: expected key sequences [W+1]; got shapes {anomaly.shape} and {reference.shape}")
    last = anomaly.shape[0] - 1
    changed = set(int(p) for p in np.atleast_1d(interp.changed))
    rows = []
    for p in range(anomaly.shape[0]):
        a, r = int(anomaly[p]), int(reference[p])
        rows.append(
            [
                "next" if p == last else str(p),
                str(a),
                _template(templates, a, width),
                "!=" if p in changed else "",
                str(r),
                _template(templates, r, width),
            ]
        )
    verdict = f"; blamed: {details['verdict']}" if details and "verdict" in details else ""
    accepted = "accepted" if interp.flipped else "STILL REJECTED"
    title = (
        f"top-g margin {interp.score:.4g} -> reference {interp.reference_score:.4g} "
        f"(reference {accepted} by the model){verdict}; {len(changed)} changed"
    )
    return format_table(
        ["pos", "anomaly", "anomaly template", "", "reference", "reference template"], rows, title=title
    )


def batch_tables(
    batch: InterpretationBatch,
    templates: Mapping[int, str] | None = None,
    *,
    rows: Any = None,
    width: int = 56,
) -> str:
    """``side_by_side`` for the chosen rows of a batch (all by default), separated by blank lines."""
    chosen = range(len(batch)) if rows is None else [int(i) for i in rows]
    return "\n\n".join(
        f"#{i} " + side_by_side(batch[i], templates, details=batch.details[i] if batch.details else None, width=width)
        for i in chosen
    )


def plot_sequence(
    interp: Interpretation, path: Any, templates: Mapping[int, str] | None = None, title: str | None = None
) -> pathlib.Path:
    """Step plot of anomaly and reference keys over positions, changed positions marked (needs matplotlib).

    The title says the model's verdict on both sequences and which positions changed; the y axis
    lists the log keys (their templates where known)."""
    out = pathlib.Path(path)
    sequence_figure(interp, templates, title).savefig(out, dpi=110)
    return out


def sequence_figure(
    interp: Interpretation, templates: Mapping[int, str] | None = None, title: str | None = None
) -> Any:
    """The drawing of ``plot_sequence`` as a matplotlib ``Figure`` (not saved, no pyplot state)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plot_sequence needs matplotlib: pip install 'deepaid-plugin-deeplog[plot]'") from exc
    anomaly, reference = np.asarray(interp.anomaly), np.asarray(interp.reference)
    pos = np.arange(anomaly.shape[0])
    # One row per distinct key shown (key ids are labels, not magnitudes).
    keys = sorted(set(anomaly.tolist()) | set(reference.tolist()))
    row = {k: i for i, k in enumerate(keys)}
    fig = Figure(figsize=(9, 1.9 + 0.35 * len(keys)))
    ax = fig.add_subplot()
    ax.step(pos, [row[k] for k in anomaly.tolist()], where="mid", label="anomaly", color="tab:red")
    ax.step(pos, [row[k] for k in reference.tolist()], where="mid", label="reference", color="tab:blue", linestyle="--")
    for p in np.atleast_1d(interp.changed):
        ax.axvspan(p - 0.5, p + 0.5, color="gold", alpha=0.3)
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([_template(templates, k, 40) for k in keys], fontsize=8)
    ax.set_xticks(pos)
    ax.set_xticklabels([str(p) for p in pos[:-1]] + ["next"])
    ax.set_xlabel("position in window (last: the next key)", fontsize=8)
    ax.set_ylabel("log key (template)" if templates is not None else "log key", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    last = anomaly.shape[0] - 1
    where = ", ".join("next" if int(p) == last else str(int(p)) for p in np.atleast_1d(interp.changed))
    accepted = "accepted" if interp.flipped else "STILL REJECTED"
    ax.set_title(
        title
        or f"log keys, anomaly vs reference: top-g margin {interp.score:.3g} -> "
        f"{interp.reference_score:.3g} (reference {accepted})\nchanged position: {where or 'none'} (shaded)",
        fontsize=9,
    )
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig
