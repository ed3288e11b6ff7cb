"""``deepaid bench deeplog-files``: ``deepaid explain deeplog`` on a generated HDFS-like log file.

The experiment's model and parser (saved as a state dict and JSON, as a user would) explain a fresh
log of ``n`` interleaved sessions (20% with one planted insert, delete or substitution), read as raw
lines. Reported: lines/s and sessions/s of the whole job (parse, group, stage, explain, write), the
same sessions explained in memory with ``interpret_sessions`` (the search alone), alerts, flip rate,
and how often the first edit sits at the planted change.
"""

from __future__ import annotations

import json
import os
import pathlib
import time
from typing import Any

import numpy as np
import torch

from deepaid_plugin_deeplog.experiment import RESERVED_KEYS, ExperimentConfig, run_experiment
from deepaid_plugin_deeplog.explain_input import edit_name, ranked_edits
from deepaid_plugin_deeplog.parsing import group_sessions
from deepaid_plugin_deeplog.preset import deeplog_interpreter
from deepaid_plugin_deeplog.synthetic import generate_workflow_logs
from deepaid_sdk.bench.report import BenchmarkReport
from deepaid_sdk.checks import check_device

DEFAULT_N = 5000
K = 3


def _agreement(log: Any, records: list[dict[str, Any]], direct: Any) -> tuple[str, ...]:
    """How the job's records fare (flips, first edit at the planted change) and whether they equal the
    in-memory search's."""
    truth = {b: i for i, b in enumerate(log.block_ids)}
    alerts = [r for r in records if r["alert"]]
    planted = [r for r in alerts if log.labels[truth[r["id"]]] and r["changed"]]
    at_plant = [
        int(r["details"]["changes"][0]["position"]) in log.planted_positions(truth[r["id"]]).tolist() for r in planted
    ]
    same = all(r["changed"] == [edit_name(e) for e in ranked_edits(d)] for r, d in zip(records, direct))
    return (
        f"alerts {len(alerts)} of {len(records)} sessions; flipped {np.mean([r['flipped'] for r in alerts]):.3f} "
        f"of alerts; first edit at the planted change {np.mean(at_plant):.3f} of {len(planted)} planted alerts",
        f"file job records equal the in-memory search: {same}",
        f"load average at the end: {os.getloadavg()[0]:.2f}",
    )


def run(n: int | None = None, seed: int = 0, device: str = "cpu", out: pathlib.Path | None = None) -> BenchmarkReport:
    """The file job on ``n`` sessions (default 5,000) against the in-memory session search."""
    import warnings

    from deepaid_sdk import explain_file

    check_device(device)
    n = DEFAULT_N if n is None else int(n)
    ex = run_experiment(ExperimentConfig(seed=seed), device=device)
    root = pathlib.Path(out or "deepaid-out") / "bench-deeplog-files"
    root.mkdir(parents=True, exist_ok=True)
    torch.save(ex.model.state_dict(), root / "deeplog.pt")
    ex.parser.save(root / "parser.json")
    log = generate_workflow_logs(n, anomaly_rate=0.2, seed=seed + 7)
    log_path = log.write(root / "test.log")
    output = root / "sessions.jsonl"

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # unmatched-line counts: new anomaly templates are expected
        explain_file(
            "deeplog",
            "deepaid_plugin_deeplog.model:DeepLog",
            log_path,
            output,
            model_args=ex.model.config(),
            weights=root / "deeplog.pt",
            k=K,
            device=device,
            options={"parser": str(root / "parser.json")},
            quiet=True,
        )
        job_s = time.perf_counter() - started
        keys = ex.parser.transform(log.lines)
    records = [json.loads(line) for line in output.read_text().splitlines()]
    sessions = group_sessions(log.lines, keys)
    interp = deeplog_interpreter(ex.model, templates=ex.templates, k=K, **RESERVED_KEYS)
    started = time.perf_counter()
    direct = interp.interpret_sessions(list(sessions.keys))
    search_s = time.perf_counter() - started

    notes = _agreement(log, records, direct)
    rows = (
        (
            "deepaid explain (file job)",
            len(log.lines),
            len(records),
            round(len(log.lines) / job_s, 1),
            round(len(records) / job_s, 1),
            round(job_s, 2),
        ),
        (
            "interpret_sessions (search only)",
            len(log.lines),
            len(direct),
            None,
            round(len(direct) / search_s, 1),
            round(search_s, 2),
        ),
    )
    return BenchmarkReport(
        name="deeplog-files",
        columns=("run", "lines", "sessions", "lines/s", "sessions/s", "seconds"),
        rows=rows,
        setup={
            "sessions": n,
            "window": ex.config.window,
            "g": ex.config.num_candidates,
            "k": K,
            "device": device,
            "torch threads": torch.get_num_threads(),
        },
        notes=notes,
    )
