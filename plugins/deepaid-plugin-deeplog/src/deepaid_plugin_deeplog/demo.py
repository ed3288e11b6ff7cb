"""``deepaid demo deeplog``: synthetic logs -> drain3 -> DeepLog -> detection -> DeepAID, printed."""

from __future__ import annotations

import json
import pathlib
import time
from typing import Any

import numpy as np

import deepaid_sdk
from deepaid_plugin_deeplog.adapters import DeepLogAdapter
from deepaid_plugin_deeplog.detection import detect
from deepaid_plugin_deeplog.experiment import CACHE_DIR, RESERVED_KEYS, ExperimentConfig, run_experiment
from deepaid_plugin_deeplog.preset import DeepLogInterpreter
from deepaid_plugin_deeplog.session_plants import sessions_from_windows
from deepaid_plugin_deeplog.session_views import format_session
from deepaid_plugin_deeplog.views import batch_tables, plot_sequence


def _first(verdicts: list[str], wanted: str) -> list[int]:
    return [i for i, v in enumerate(verdicts) if v == wanted][:1]


def _window_example(ex: Any, cfg: ExperimentConfig, g: int = 5) -> None:
    """With a stricter top-g, DeepLog also alerts after an odd event; show one window-blamed alert."""
    strict = deepaid_sdk.create(
        "deeplog", model=ex.model, num_candidates=g, k=1, templates=ex.templates, **RESERVED_KEYS
    )
    assert isinstance(strict.adapter, DeepLogAdapter)
    flags = detect(strict.adapter, ex.test.windows, ex.test.next_keys)
    alerts = ex.test.sequences[flags & ~ex.flags]
    if len(alerts) == 0:
        return
    batch = strict.interpret_batch(alerts)
    rows = _first([d["verdict"] for d in batch.details], "window")
    if rows:
        print(
            f"\nWith top-g = {g}, DeepLog also alerts when the odd event sits inside the window "
            f"({len(alerts)} more alerts); one the saliency test put on the window:\n"
        )
        print(batch_tables(batch, ex.templates, rows=rows))


def _sessions_example(ex: Any, interp: Any, out: pathlib.Path) -> None:
    """Whole flagged sessions explained by replace/insert/delete edits (``interpret_sessions``)."""
    sessions = sessions_from_windows(ex.test)
    flagged = np.zeros(len(sessions), dtype=bool)
    np.logical_or.at(flagged, ex.test.session, ex.flags)
    chosen = [s for s, f in zip(sessions, flagged) if f and len(s) > ex.config.window]
    if not chosen:
        return
    result = interp.interpret_sessions(chosen, k=3)
    edits = [e.kind for r in result for e in r.edits]
    print(
        f"\nsessions   {len(result)} flagged sessions explained whole in {result.seconds:.3f}s "
        f"({result.throughput:,.0f}/s): {edits.count('replace')} replace, {edits.count('insert')} insert, "
        f"{edits.count('delete')} delete edits; every window normal afterwards for {result.flip_rate:.3f}\n"
    )
    shown = {}
    for r in result:
        if r.edits and r.edits[0].kind not in shown:
            shown[r.edits[0].kind] = r
    for r in shown.values():
        print(format_session(r))
    (out / "deeplog-sessions.json").write_text(json.dumps(result.to_dict(), allow_nan=False), encoding="utf-8")


def _file_example(ex: Any, out: pathlib.Path, log_path: pathlib.Path) -> None:
    """The same model on the raw log file, as a user runs it: ``deepaid explain deeplog`` (one record per session)."""
    import warnings

    import torch

    from deepaid_sdk import explain_file

    weights, parser = out / "deeplog.pt", out / "deeplog-parser.json"
    torch.save(ex.model.state_dict(), weights)
    ex.parser.save(parser)
    output = out / "deeplog-sessions.jsonl"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # lines of templates first seen in the test log
        summary = explain_file(
            "deeplog",
            "deepaid_plugin_deeplog.model:DeepLog",
            log_path,
            output,
            model_args=ex.model.config(),
            weights=weights,
            options={"parser": str(parser)},
            k=3,
            quiet=True,
        )
    print(
        f"\nfile job   deepaid explain deeplog --model deepaid_plugin_deeplog.model:DeepLog --model-args "
        f"'{json.dumps(ex.model.config())}' --weights {weights} --option parser={parser} --k 3 "
        f"--input {log_path} --output {output}"
    )
    print(f"           {summary.text()}")


def run(out_dir: pathlib.Path, config: ExperimentConfig | None = None) -> int:
    """Run the whole DeepLog story on synthetic HDFS-like logs; print tables, write files to ``out_dir``."""
    started = time.perf_counter()
    cfg = config or ExperimentConfig()
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    print("deepaid demo deeplog: HDFS-like block life cycles -> drain3 templates -> DeepLog LSTM -> DeepAID\n")
    ex = run_experiment(cfg)
    log_path = ex.test_log.write(out / "deeplog-test.log")
    labels = ex.test_labels
    print(
        f"logs       {len(ex.train_log.lines)} training lines ({cfg.n_train} normal sessions); "
        f"{len(ex.test_log.lines)} test lines ({cfg.n_test} sessions, {int(labels.sum())} with one planted "
        f"insert/delete/substitute) -> {log_path}"
    )
    print(f"drain3     {len(ex.templates) - 2} templates (+ <pad>, <unknown>); sessions grouped by block id")
    m = ex.metrics
    trained = (
        f"loaded from {CACHE_DIR}/"
        if ex.cached
        else f"trained in {ex.seconds['train']:.1f}s on {len(ex.train)} windows"
    )
    print(f"DeepLog    LSTM {cfg.layers}x{cfg.hidden}, window {cfg.window}, top-g = {cfg.num_candidates}; {trained}")
    print(
        f"detection  test sessions: precision {m.precision:.3f}  recall {m.recall:.3f}  F1 {m.f1:.3f} "
        f"(tp {m.tp}, fp {m.fp}, fn {m.fn}); {int(ex.flags.sum())} alerting windows\n"
    )

    interp = deepaid_sdk.create(
        "deeplog", model=ex.model, num_candidates=cfg.num_candidates, k=1, templates=ex.templates, **RESERVED_KEYS
    )
    assert isinstance(interp, DeepLogInterpreter)
    alerts = ex.test.sequences[ex.flags]
    if len(alerts) == 0:
        print("no alerts to explain")
        return 0
    interp.interpret_batch(alerts[:2, :-1], next_keys=alerts[:2, -1])  # warm-up: one-time set-up is not timed
    batch = interp.interpret_batch(alerts[:, :-1], next_keys=alerts[:, -1])
    truth = ex.truth[ex.flags]
    seen = truth.any(axis=1)
    first = np.asarray([c[0] if len(c) else -1 for c in batch.changed])
    hit = truth[np.arange(len(batch)), first] & (first >= 0)
    verdicts = [d["verdict"] for d in batch.details]
    print(
        f"DeepAID    {len(batch)} alerts explained in {batch.seconds:.3f}s ({batch.throughput:,.0f}/s); "
        f"reference accepted by the model for {batch.flip_rate:.3f}"
    )
    print(
        f"           blamed the next key for {verdicts.count('next key')}, the window for "
        f"{verdicts.count('window')}; changed position = planted one for {hit[seen].mean():.3f} of the "
        f"{int(seen.sum())} alerts with the planted change in view\n"
    )
    show = _first(verdicts, "next key") + _first(verdicts, "window")
    print(batch_tables(batch, ex.templates, rows=show))
    if "window" not in verdicts:
        _window_example(ex, cfg)
    (out / "deeplog-interpretations.json").write_text(json.dumps(batch.to_dict()), encoding="utf-8")
    _sessions_example(ex, interp, out)
    _file_example(ex, out, log_path)
    try:
        plot = plot_sequence(batch[show[0]], out / f"deeplog-alert-{show[0]}.png", ex.templates)
        print(f"\nwrote {plot} and {out / 'deeplog-interpretations.json'}")
    except ImportError as exc:
        print(f"\n(no plot: {exc}); wrote {out / 'deeplog-interpretations.json'}")
    print(f"demo finished in {time.perf_counter() - started:.1f}s")
    return 0
