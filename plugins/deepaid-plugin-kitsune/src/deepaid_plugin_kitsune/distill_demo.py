"""``deepaid demo distill``: analyst verdicts on 10 KitNET alerts per class become rules; triage; fewer false alerts.

1. KitNET on synthetic traffic; alerts of four labelled attack types, two never labelled, and a
   benign drift (nightly backups) it keeps flagging; each alert explained by DeepAID.
2. An analyst labels 10 alerts per class; the Distiller turns them into rules (printed as text,
   saved as ``distill-rules.json``).
3. The rest of the alert queue is triaged: verdict, confidence, matched rule; false positives
   are marked suppressed, never dropped.
4. The false positives and their references become a retraining set; KitNET is refit and
   false alerts on fresh traffic are counted before and after.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from deepaid_plugin_kitsune.distill_bench import detector_counts, refit, split
from deepaid_plugin_kitsune.distill_case import (
    DRIFT,
    FALSE_POSITIVE,
    KINDS,
    LABELLED,
    UNLABELLED,
    distill_case,
    kind_rows,
    verdict_of,
)
from deepaid_plugin_kitsune.names import feature_names
from deepaid_plugin_kitsune.synthetic import traffic_rows
from deepaid_sdk.distill import Distiller, IntervalStates, as_alerts, retraining_set
from deepaid_sdk.results.views import format_table


def _print_rules(text: str, labelled: int, out_dir: pathlib.Path) -> None:
    """The first two rules of each verdict (all of them are in ``distill-rules.txt``)."""
    lines = text.splitlines()
    print(f"\nRules from {labelled} labelled alerts (first two per verdict; all in {out_dir / 'distill-rules.txt'}):")
    shown: dict[str, int] = {}
    current = ""
    for line in lines[1:]:
        if not line.startswith("  "):
            current = line
            print(line)
        elif shown.setdefault(current, 0) < 2:
            shown[current] += 1
            print(line[:160] + (" ..." if len(line) > 160 else ""))


def run(out_dir: pathlib.Path, *, per_kind: int = 40, seed: int = 0, show: int = 14) -> int:
    """The Distiller workflow end to end on KitNET alerts; writes the rules and the triaged queue."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    case = distill_case(per_kind, seed)
    kinds = np.asarray(case.kinds)
    print(
        "KitNET alerts explained (K=5): "
        + ", ".join(f"{k} {int((kinds == k).sum())}" for k in KINDS)
        + f"; '{DRIFT}' is benign drift, never-labelled attack types stay unlabelled"
    )

    train = split(case.kinds)
    alerts = as_alerts(case.batch)
    distiller = Distiller(IntervalStates.fit(case.normal, feature_names())).fit(
        [alerts[i] for i in np.flatnonzero(train)], [case.verdicts[i] for i in np.flatnonzero(train)]
    )
    (out_dir / "distill-rules.json").write_text(distiller.to_json())
    text = distiller.to_text()
    (out_dir / "distill-rules.txt").write_text(text + "\n")
    _print_rules(text, int(train.sum()), out_dir)

    queue = np.flatnonzero(~train)
    triage = distiller.triage([alerts[i] for i in queue])
    records = [{"id": int(i), "kind": case.kinds[i], **r} for i, r in zip(queue, triage.records())]
    (out_dir / "distill-triaged.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    pick = np.random.default_rng(seed).choice(len(queue), size=min(show, len(queue)), replace=False)
    rows = [
        [
            records[j]["id"],
            records[j]["kind"],
            records[j]["verdict"],
            records[j]["confidence"],
            "yes" if records[j]["suppressed"] else "",
            (records[j]["rule"] or "-")[:70],
        ]
        for j in sorted(pick)
    ]
    print(
        "\n"
        + format_table(
            ["alert", "true kind", "verdict", "confidence", "suppressed", "rule"],
            rows,
            title=f"Triaged queue ({len(queue)} alerts, {show} shown; all in distill-triaged.jsonl)",
        )
    )
    verdicts, queue_kinds = np.array(triage.verdicts), kinds[queue]
    known = np.isin(queue_kinds, (*LABELLED, DRIFT))
    truth = np.array([verdict_of(k) for k in queue_kinds])
    unlabelled = np.isin(queue_kinds, UNLABELLED)
    print(
        f"  labelled kinds answered correctly: {np.mean(verdicts[known] == truth[known]):.3f}; never-labelled "
        f"kinds flagged unknown: {np.mean(verdicts[unlabelled] == 'unknown'):.3f}; suppressed (kept, marked): "
        f"{int(triage.suppressed.sum())} of {len(queue)}"
    )

    marks = np.zeros(len(kinds), dtype=bool)
    marks[train] = np.array(case.verdicts)[train] == FALSE_POSITIVE
    marks[queue] = triage.suppressed
    rset = retraining_set(case.batch, marks, contexts=case.normal, seed=seed)
    rng = np.random.default_rng(seed + 2)
    normal = traffic_rows(4000, rng).astype(np.float32)
    drift = kind_rows(DRIFT, 900, rng)
    attacks = np.concatenate([kind_rows(k, 300, rng) for k in KINDS if k != DRIFT])
    before = detector_counts(case.model, normal, drift, attacks)
    after = detector_counts(refit(case.normal, rset.rows, seed), normal, drift, attacks)
    print(
        f"\nRetraining set: {rset.rows.shape[0]} rows from {rset.alerts} false positives: points from each "
        "reference to the alert, and its changed features on 50 normal rows"
    )
    kept = float(after[3][before[3]].mean())
    print(
        format_table(
            ["KitNET", "false alerts", f"on {DRIFT} rows", "attack recall", "caught before, still caught"],
            [["as trained", before[0], before[1], before[2], 1.0], ["refit", after[0], after[1], after[2], kept]],
            title="Fresh traffic: 4000 normal rows, 900 backup rows, 300 rows of each attack",
        )
    )
    return 0
