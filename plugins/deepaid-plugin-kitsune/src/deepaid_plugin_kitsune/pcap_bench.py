"""``deepaid bench kitsune --pcap FILE --labels FILE``: KitNET and DeepAID on a real, labelled capture.

KitNET is fit on the first 75% (in time) of the benign packets before the first attack; the last 25%
are the held-out benign packets of the ROC AUC. Benign packets after the first attack are counted apart:
the slow AfterImage windows (about 100 s) still carry the attacks there, and they give the false
positives the Distiller learns to suppress.
Per attack type the bench prints detection (ROC AUC against held-out benign packets, share alerted),
then on ``n`` sampled alerts of the type: the label-flip rate of the ``kitsune`` preset at its default
budget and of the reconstruction residual at the same K (in features), features and groups changed, stability
under 1% noise (Jaccard of the changed sets, ours and the residual's), and the Distiller fit on 10 labelled
alerts per type plus 10 benign false positives: accuracy on the held-out alerts of the type, the share
``unknown`` when the type was never labelled (refit without it), attacks wrongly suppressed; benign false
positives suppressed is one figure for the capture.
"""

from __future__ import annotations

import pathlib
import time
from typing import Any

import numpy as np
import torch

from deepaid_plugin_kitsune.adapters import KitNETAdapter
from deepaid_plugin_kitsune.bench import TRAIN
from deepaid_plugin_kitsune.kitnet import fit_kitnet
from deepaid_plugin_kitsune.names import feature_names
from deepaid_plugin_kitsune.pcap_labels import BENIGN, packet_labels, read_labels
from deepaid_plugin_kitsune.pcap_stream import feature_chunks, kitnet_scores
from deepaid_plugin_kitsune.preset import kitsune_interpreter
from deepaid_sdk.bench.report import BenchmarkReport
from deepaid_sdk.distill import Distiller, IntervalStates, as_alerts
from deepaid_sdk.evaluation import robustness
from deepaid_sdk.groups import FeatureGroups
from deepaid_sdk.interpreter import Interpreter

PER_TYPE = 60
#: Share of the benign packets before the first attack KitNET is fit on (in time order); the rest is held out.
TRAIN_SHARE = 0.75
LABELS_PER_TYPE = 10
FALSE_POSITIVE = "false positive"
COLUMNS = (
    "attack",
    "packets",
    "roc_auc",
    "alerted",
    "flip",
    "flip_residual",
    "changed",
    "groups",
    "stability_noise",
    "stability_noise_residual",
    "distiller_acc",
    "unknown_unlabelled",
    "wrongly_suppressed",
)


def lab_rows(pcap: pathlib.Path, labels: pathlib.Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """AfterImage rows, their labels and times (streamed), and the first attack's start."""
    segments = read_labels(labels)
    if not segments:
        raise ValueError(f"labels: {str(labels)!r} names no attack segment")
    feats, kinds, times = [], [], []
    for chunk in feature_chunks(pcap):
        feats.append(chunk.features.astype(np.float32))
        kinds.append(packet_labels(chunk.packets, segments))
        times.append(chunk.packets.ts)
    return np.concatenate(feats), np.concatenate(kinds), np.concatenate(times), min(s.start for s in segments)


def residual_explain(adapter: KitNETAdapter, k: int) -> Any:
    """The reconstruction residual at ``k``: the ``k`` most deviant features set to KitNET's reconstruction."""

    def explain(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            v = adapter.prepare(x)
            r = adapter.reconstruct(v)
            idx = (v - r).abs().topk(k, dim=1).indices
            mask = torch.zeros_like(v, dtype=torch.bool).scatter_(1, idx, True)
            ref = torch.where(mask, r, v)
            return mask.numpy(), adapter.is_normal(ref).numpy()

    return explain


def _sample(kinds: np.ndarray, alert: np.ndarray, kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    idx = np.flatnonzero((kinds == kind) & alert)
    return np.sort(rng.choice(idx, size=min(n, idx.size), replace=False)) if idx.size else idx


def _distill(
    alerts: list[Any], verdicts: np.ndarray, train: np.ndarray, states: IntervalStates, leave_out: str | None = None
) -> Any:
    keep = train & (verdicts != leave_out)
    model = Distiller(states, mode="path").fit([alerts[i] for i in np.flatnonzero(keep)], list(verdicts[keep]))
    return model.triage([alerts[i] for i in np.flatnonzero(~train)])


def run(
    n: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    out: pathlib.Path | None = None,
    pcap: str | pathlib.Path | None = None,
    labels: str | pathlib.Path | None = None,
) -> BenchmarkReport:
    """The figures above on ``pcap`` labelled by ``labels`` (``n`` alerts per attack type, default 60)."""
    if pcap is None or labels is None:
        raise ValueError("pcap/labels: the capture bench needs both --pcap FILE and --labels FILE")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    x, kinds, ts, first_attack = lab_rows(pathlib.Path(pcap), pathlib.Path(labels))
    before = (kinds == BENIGN) & (ts < first_attack)
    if before.sum() < 200:
        raise ValueError(f"pcap: expected >= 200 benign packets before the first attack; got {int(before.sum())}")
    cut = ts[before][int(before.sum() * TRAIN_SHARE)]
    train, held = before & (ts < cut), before & (ts >= cut)
    after = (kinds == BENIGN) & ~before
    model = fit_kitnet(x[train], seed=seed, device=device, **TRAIN)
    score = kitnet_scores(model, x)
    alert = score > float(model.threshold)
    types = sorted(set(kinds.tolist()) - {BENIGN})
    per = n or PER_TYPE
    chosen = {t: _sample(kinds, alert & ~train, t, per, rng) for t in [*types, BENIGN]}
    rows_idx = np.concatenate(list(chosen.values()))
    row_kind = np.concatenate([np.full(v.size, t, dtype=object) for t, v in chosen.items()])
    interp = kitsune_interpreter(model)  # the preset's defaults
    batch = interp.interpret_batch(x[rows_idx].astype(np.float64))
    adapter = interp.adapter
    assert isinstance(adapter, KitNETAdapter)
    k = int(batch.params.get("k") or 5) if isinstance(batch.params.get("k"), int) else 5
    scaled = adapter.to_space(torch.as_tensor(x[rows_idx], dtype=torch.float64)).numpy()
    residual = residual_explain(adapter, k)
    res_mask, res_flip = residual(scaled)
    ours_stab = _stability(lambda v: Interpreter.interpret_batch(interp, v), scaled, row_kind, seed)
    res_stab = _stability(lambda v: residual(v)[0], scaled, row_kind, seed)
    changed = batch.changed_mask()
    groups = np.asarray(FeatureGroups.of(adapter.feature_groups, changed.shape[1]).count(changed))
    distill = _distiller_figures(batch, row_kind, types, x[train])
    rows = []
    for t in types:
        m = row_kind == t
        auc = _auc(score[kinds == t], score[held])
        rows.append(
            (
                t,
                int((kinds == t).sum()),
                auc,
                float(alert[kinds == t].mean()),
                float(batch.flipped[m].mean()) if m.any() else None,
                float(res_flip[m].mean()) if m.any() else None,
                float(changed[m].sum(axis=1).mean()) if m.any() else None,
                float(groups[m].mean()) if m.any() else None,
                ours_stab.get(t),
                res_stab.get(t),
                *distill["per_type"][t],
            )
        )
    return BenchmarkReport(
        name="kitsune --pcap",
        columns=COLUMNS,
        rows=tuple(rows),
        setup={
            "pcap": str(pcap),
            "packets": int(x.shape[0]),
            "train_benign": int(train.sum()),
            "held_out_benign": int(held.sum()),
            "benign_after_first_attack": int(after.sum()),
            "false_alerts_held_out": round(float(alert[held].mean()), 5),
            "false_alerts_benign_after_first_attack": round(float(alert[after].mean()), 5) if after.any() else None,
            "benign_fp_sampled": int(chosen[BENIGN].size),
            "fp_suppressed": distill["fp_suppressed"],
            "k": k,
            "detector": f"KitNET {len(model.groups)} AEs (m={TRAIN['max_group']})",
            "seed": seed,
            "torch_threads": torch.get_num_threads(),
            "seconds": round(time.perf_counter() - started, 1),
        },
        notes=(
            "roc_auc/alerted: every packet of the type against the held-out benign packets; the other columns on "
            f"up to {per} sampled alerts per type; flip: reference judged normal (ours at the preset's defaults, "
            "the residual's top K features, K the preset's k); groups: groups changed (a statistic over its decay "
            "windows); stability_noise: Jaccard of the changed sets of x and x + 1% noise",
            f"distiller: {LABELS_PER_TYPE} labelled alerts per type + {LABELS_PER_TYPE} benign false positives "
            "(path rules); unknown_unlabelled: refit without the type, share of its alerts answered 'unknown'",
        ),
    )


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC by ranks (ties count half)."""
    both = np.concatenate([pos, neg])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(both.size)
    ranks[order] = np.arange(1, both.size + 1)
    _, inv, counts = np.unique(both, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    ranks = (sums / counts)[inv]
    return float((ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def _stability(explain: Any, scaled: np.ndarray, row_kind: np.ndarray, seed: int) -> dict[str, float]:
    return {
        str(t): robustness(explain, scaled[row_kind == t], noise=0.01, seed=seed)
        for t in np.unique(row_kind)
        if (row_kind == t).sum() > 1
    }


def _distiller_figures(batch: Any, row_kind: np.ndarray, types: list[str], normal: np.ndarray) -> dict[str, Any]:
    alerts = as_alerts(batch)
    verdicts = np.where(row_kind == BENIGN, FALSE_POSITIVE, row_kind).astype(object)
    train = np.zeros(len(row_kind), dtype=bool)
    for t in np.unique(row_kind):
        train[np.flatnonzero(row_kind == t)[:LABELS_PER_TYPE]] = True
    states = IntervalStates.fit(normal.astype(np.float64), feature_names())
    pred = _distill(alerts, verdicts, train, states)
    test_kind = row_kind[~train]
    said = np.asarray(pred.verdicts, dtype=object)
    suppressed = np.asarray(pred.suppressed, dtype=bool)
    per_type: dict[str, tuple[Any, Any, Any]] = {}
    for t in types:
        m = test_kind == t
        left = _distill(alerts, verdicts, train, states, leave_out=t)
        unknown = float(np.mean(np.asarray(left.verdicts, dtype=object)[m] == "unknown")) if m.any() else None
        per_type[t] = (
            float(np.mean(said[m] == t)) if m.any() else None,
            unknown,
            float(suppressed[m].mean()) if m.any() else None,
        )
    fp = test_kind == BENIGN
    return {"per_type": per_type, "fp_suppressed": f"{int(suppressed[fp].sum())}/{int(fp.sum())}"}
