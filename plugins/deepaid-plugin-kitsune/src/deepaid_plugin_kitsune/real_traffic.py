"""Explanations and the Distiller measured on a real capture: a pcap and its labelled attack segments.

``measure(pcap, labels)`` reads the capture, computes AfterImage features, fits KitNET on the benign
packets before the first attack, and on the alerts it raises measures, per attack type:

- detection (share of the type's packets alerted) and false alerts on the held-out benign packets;
- explanations with the kitsune preset's default budget (groups) against a feature budget of 5 and
  the reconstruction residual's top 5: reference judged normal, groups and features changed, the
  share normal with at most 10 groups, and robustness (Jaccard of the changed sets under 1% noise);
- the Distiller with 10 labelled alerts per type and 10 labelled benign false alerts: accuracy per
  type, each type in turn never labelled (``unknown`` rate), false alerts suppressed, attacks
  wrongly suppressed.

``labels.csv`` has ``start,end,label,attacker,victim`` rows: a packet is an attack packet of that
label when its time is inside ``[start, end]`` and its two addresses are the attacker and the victim
(either way); every other packet is benign. Everything is seeded; figures are counts and shares.
"""

from __future__ import annotations

import pathlib
from typing import Any, Callable, Sequence

import attrs
import numpy as np
import torch

import deepaid_sdk
from deepaid_plugin_kitsune.adapters import KitNETAdapter
from deepaid_plugin_kitsune.afterimage import extract_features
from deepaid_plugin_kitsune.kitnet import KitNET, fit_kitnet
from deepaid_plugin_kitsune.names import feature_names
from deepaid_plugin_kitsune.packets import read_pcap
from deepaid_plugin_kitsune.pcap_labels import BENIGN, packet_labels, read_labels
from deepaid_sdk.evaluation import jaccard
from deepaid_sdk.groups import FeatureGroups
from deepaid_sdk.progress import progress
from deepaid_sdk.results import InterpretationBatch

FALSE_POSITIVE = "false_positive"
TRAIN: dict[str, Any] = {"max_group": 10, "epochs": 10, "lr": 1e-2, "percentile": 99.0}
LABELS_PER_TYPE = 10
GROUP_TARGET = 10


@attrs.frozen(eq=False)
class Capture:
    """Per packet of a capture: AfterImage features, time and label (an attack name or ``benign``)."""

    features: np.ndarray
    ts: np.ndarray
    labels: np.ndarray
    attack_start: float
    """Time of the first attack packet: the detector learns from the benign packets before it."""

    @property
    def types(self) -> list[str]:
        """The attack labels, in order of first appearance."""
        return [t for t in dict.fromkeys(self.labels.tolist()) if t != BENIGN]


def read_capture(pcap: str | pathlib.Path, labels: str | pathlib.Path) -> Capture:
    """Features and labels of every packet of ``pcap`` (see the module docstring for the labelling rule)."""
    packets = read_pcap(pcap)
    label = packet_labels(packets, read_labels(labels))
    attack = label != BENIGN
    if not attack.any():
        raise ValueError("labels: no packet of the capture falls in a labelled attack segment")
    return Capture(extract_features(packets), packets.ts, label, float(packets.ts[attack].min()))


def fit_detector(capture: Capture, seed: int = 0) -> tuple[KitNET, np.ndarray]:
    """KitNET fitted on the benign packets before the first attack; the ``[N]`` bool mask of those rows."""
    train = (capture.ts < capture.attack_start) & (capture.labels == BENIGN)
    return fit_kitnet(capture.features[train], seed=seed, **TRAIN), train


def pick_alerts(
    capture: Capture, alerted: np.ndarray, train: np.ndarray, per_type: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``per_type`` alert rows of each attack type and of held-out benign packets (seeded), and their
    true verdicts (the attack name, ``false_positive`` for benign)."""
    rng = np.random.default_rng(seed)
    rows, truth = [], []
    for kind in [*capture.types, BENIGN]:
        idx = np.flatnonzero(alerted & (capture.labels == kind) & ~train)
        idx = np.sort(rng.choice(idx, min(per_type, len(idx)), replace=False))
        rows.append(idx)
        truth += [FALSE_POSITIVE if kind == BENIGN else kind] * len(idx)
    return np.concatenate(rows), np.asarray(truth, dtype=object)


def explanation_figures(batch: InterpretationBatch, groups: FeatureGroups) -> dict[str, np.ndarray]:
    """Per row: reference normal, features changed, groups changed."""
    mask = batch.changed_mask().reshape(len(batch), -1)
    return {
        "flipped": np.asarray(batch.flipped, dtype=bool),
        "features": mask.sum(axis=1),
        "groups": np.asarray(groups.count(mask)),
    }


def _noisy(x: np.ndarray, train_rows: np.ndarray, seed: int, noise: float = 0.01) -> np.ndarray:
    """``x`` plus Gaussian noise of ``noise`` x each feature's std on the training rows (non-negative kept)."""
    std = train_rows.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    out = x + np.random.default_rng(seed).normal(size=x.shape) * noise * std
    return np.where(x >= 0, np.maximum(out, 0.0), out).astype(x.dtype)


def explainers(model: KitNET, train_rows: np.ndarray) -> dict[str, Callable[[np.ndarray], InterpretationBatch]]:
    """Ours at the preset's default budget, ours with 5 features (the old default), and the residual's top 5."""
    from deepaid_sdk.bench.compare import baseline_explainers

    default = deepaid_sdk.create("kitsune", model=model)
    five = deepaid_sdk.create("kitsune", model=model, k=5, budget="features")
    adapter = five.adapter
    assert isinstance(adapter, KitNETAdapter)
    box = [c for c in five.constraints if c.name == "box"]
    residual = baseline_explainers(adapter, 5, kind="continuous", constraints=box)["residual"]

    Explain = Callable[[np.ndarray], InterpretationBatch]

    def scaled(explain: Callable[[np.ndarray, int], InterpretationBatch]) -> Explain:
        def run(x: np.ndarray) -> InterpretationBatch:
            with torch.no_grad():
                return explain(adapter.to_space(adapter.prepare(x)).cpu().numpy(), 0)

        return run

    return {
        f"deepaid, default budget ({default.search.describe().get('start')}, k=10 groups)": default.interpret_batch,
        "deepaid, k=5 features (before)": five.interpret_batch,
        "residual top-5": scaled(residual),
    }


def explanation_rows(
    capture: Capture, model: KitNET, train: np.ndarray, rows: np.ndarray, truth: np.ndarray, seed: int = 0
) -> tuple[list[tuple[Any, ...]], dict[str, InterpretationBatch]]:
    """Per method and attack type: reference normal, normal with <= 10 groups, groups and features changed
    (mean, max), robustness under 1% noise; and each method's explanations of ``rows``."""
    groups = FeatureGroups(KitNETAdapter(model).feature_groups or feature_names())
    x = capture.features[rows].astype(np.float32)
    noisy = _noisy(x, capture.features[train], seed)
    out, batches = [], {}
    for name, explain in progress(explainers(model, capture.features[train]).items(), desc="explain", unit="method"):
        batch = explain(x)
        again = explain(noisy)
        batches[name] = batch
        fig = explanation_figures(batch, groups)
        robust = jaccard(batch.changed_mask(), again.changed_mask())
        for kind in [*dict.fromkeys(truth.tolist()), "all attacks"]:
            sel = truth != FALSE_POSITIVE if kind == "all attacks" else truth == kind
            ok = fig["flipped"][sel] & (fig["groups"][sel] <= GROUP_TARGET)
            out.append(
                (
                    name,
                    kind,
                    int(sel.sum()),
                    float(fig["flipped"][sel].mean()),
                    float(ok.mean()),
                    float(fig["groups"][sel].mean()),
                    int(fig["groups"][sel].max()),
                    float(fig["features"][sel].mean()),
                    float(robust[sel].mean()),
                )
            )
    return out, batches


EXPLAIN_COLUMNS = (
    "method",
    "type",
    "alerts",
    "reference normal",
    f"normal, <= {GROUP_TARGET} groups",
    "groups",
    "max groups",
    "features",
    "robustness",
)


def detection_rows(capture: Capture, model: KitNET, train: np.ndarray) -> tuple[list[tuple[Any, ...]], np.ndarray]:
    """Per type: packets, share alerted (benign: held-out packets), ROC AUC against held-out benign; the alert mask."""
    from sklearn.metrics import roc_auc_score

    adapter = KitNETAdapter(model)
    scores = adapter.scores(capture.features.astype(np.float32)).cpu().numpy()
    alerted = scores > adapter.threshold
    benign = (capture.labels == BENIGN) & ~train
    out: list[tuple[Any, ...]] = [(BENIGN + " (held out)", int(benign.sum()), float(alerted[benign].mean()), None)]
    for kind in capture.types:
        sel = capture.labels == kind
        y = np.r_[np.ones(sel.sum()), np.zeros(benign.sum())]
        auc = float(roc_auc_score(y, np.r_[scores[sel], scores[benign]]))
        out.append((kind, int(sel.sum()), float(alerted[sel].mean()), auc))
    return out, alerted


def label_split(truth: np.ndarray, per_type: int = LABELS_PER_TYPE, seed: int = 0) -> np.ndarray:
    """``[N]`` bool: ``per_type`` alerts of every verdict (seeded) an analyst labels; the rest are held out."""
    rng = np.random.default_rng(seed)
    train = np.zeros(len(truth), dtype=bool)
    for verdict in dict.fromkeys(truth.tolist()):
        idx = np.flatnonzero(truth == verdict)
        train[rng.choice(idx, min(per_type, len(idx)), replace=False)] = True
    return train


def distill_scores(alerts: Sequence[Any], truth: np.ndarray, make: Callable[[], Any], seed: int = 0) -> dict[str, Any]:
    """The Distiller ``make()`` fitted on 10 labels per verdict: accuracy per attack type on the held-out
    alerts, ``unknown`` rate of each type when it is never labelled, false alerts suppressed, attacks
    wrongly suppressed."""
    labelled = label_split(truth, seed=seed)
    test = ~labelled
    idx_l, idx_t = np.flatnonzero(labelled), np.flatnonzero(test)
    fitted = make().fit([alerts[int(i)] for i in idx_l], truth[labelled].tolist())
    pred = fitted.triage([alerts[int(i)] for i in idx_t])
    verdicts, suppressed = np.asarray(pred.verdicts, dtype=object), np.asarray(pred.suppressed)
    held = truth[test]
    attacks = [t for t in dict.fromkeys(truth.tolist()) if t != FALSE_POSITIVE]
    out: dict[str, Any] = {"rules": len(fitted.rules)}
    out["accuracy"] = {t: float(np.mean(verdicts[held == t] == t)) for t in attacks}
    out["fp_suppressed"] = float(suppressed[held == FALSE_POSITIVE].mean())
    out["attacks_suppressed"] = float(suppressed[held != FALSE_POSITIVE].mean())
    out["unknown"] = {}
    for t in attacks:
        keep = labelled & (truth != t)
        model = make().fit([alerts[int(i)] for i in np.flatnonzero(keep)], truth[keep].tolist())
        unseen = np.flatnonzero(test & (truth == t))
        out["unknown"][t] = float(
            np.mean(np.asarray(model.triage([alerts[int(i)] for i in unseen]).verdicts) == "unknown")
        )
    return out


DISTILL_COLUMNS = (
    "distiller",
    "rules",
    "accuracy (min over types)",
    "unknown (min over types)",
    "fp suppressed",
    "attacks suppressed",
    "accuracy per type",
    "unknown per type",
)


def distillers(normal: np.ndarray) -> dict[str, Callable[[], Any]]:
    """The Distillers compared: interval states (before), magnitude states, magnitude states calibrated."""
    from deepaid_sdk.distill import Distiller, IntervalStates, MagnitudeStates

    intervals = IntervalStates.fit(normal, feature_names())
    magnitude = MagnitudeStates.fit(normal, feature_names())
    return {
        "interval states, min_score 0.6 (before)": lambda: Distiller(intervals),
        "magnitude states, min_score 0.6": lambda: Distiller(magnitude),
        "magnitude states, calibrated": lambda: Distiller(magnitude, calibrate=True),
    }


def distill_rows(
    batch: InterpretationBatch,
    truth: np.ndarray,
    normal: np.ndarray,
    seed: int = 0,
    only: Sequence[int] | None = None,
    prefix: str = "",
) -> list[tuple[Any, ...]]:
    """One row per Distiller (see ``distillers``; ``only``: those positions) on the explained alerts ``batch``
    with verdicts ``truth``."""
    from deepaid_sdk.distill import as_alerts

    alerts = as_alerts(batch)
    out = []
    for j, (name, make) in enumerate(distillers(normal).items()):
        if only is not None and j not in only:
            continue
        r = distill_scores(alerts, truth, make, seed)
        out.append(
            (
                prefix + name,
                r["rules"],
                min(r["accuracy"].values()),
                min(r["unknown"].values()),
                r["fp_suppressed"],
                r["attacks_suppressed"],
                " ".join(f"{k}={v:.2f}" for k, v in r["accuracy"].items()),
                " ".join(f"{k}={v:.2f}" for k, v in r["unknown"].items()),
            )
        )
    return out


def measure(
    pcap: str | pathlib.Path,
    labels: str | pathlib.Path,
    *,
    per_type: int = 300,
    explain_per_type: int = 60,
    seed: int = 0,
) -> dict[str, Any]:
    """Every figure of the module docstring on one capture, as three ``BenchmarkReport`` tables
    (``detection``, ``explanations``, ``distiller``); ``per_type`` alerts of each type for the Distiller,
    ``explain_per_type`` of them for the (slower) comparison of explanations."""
    from deepaid_sdk.bench.report import BenchmarkReport

    capture = read_capture(pcap, labels)
    model, train = fit_detector(capture, seed)
    detected, alerted = detection_rows(capture, model, train)
    setup = {
        "pcap": str(pcap),
        "train_packets": int(train.sum()),
        "seed": seed,
        "torch_threads": torch.get_num_threads(),
    }
    rows, truth = pick_alerts(capture, alerted, train, explain_per_type, seed)
    explained, _ = explanation_rows(capture, model, train, rows, truth, seed)
    rows, truth = pick_alerts(capture, alerted, train, per_type, seed + 1)
    batch = deepaid_sdk.create("kitsune", model=model).interpret_batch(capture.features[rows].astype(np.float32))
    before = deepaid_sdk.create("kitsune", model=model, k=5, budget="features")
    distilled = distill_rows(
        before.interpret_batch(capture.features[rows].astype(np.float32)),
        truth,
        capture.features[train],
        seed,
        only=[0],
        prefix="k=5 features explanations, ",
    )
    distilled += distill_rows(batch, truth, capture.features[train], seed)
    return {
        "detection": BenchmarkReport(
            "kitsune-capture-detection", ("type", "packets", "alerted", "roc_auc"), tuple(detected), setup
        ),
        "explanations": BenchmarkReport("kitsune-capture-explanations", EXPLAIN_COLUMNS, tuple(explained), setup),
        "distiller": BenchmarkReport(
            "kitsune-capture-distiller",
            DISTILL_COLUMNS,
            tuple(distilled),
            {
                **setup,
                "alerts": {t: int((truth == t).sum()) for t in dict.fromkeys(truth.tolist())},
                "labels_per_type": LABELS_PER_TYPE,
            },
            notes=(
                "each attack type in turn is never labelled for its 'unknown' figure; accuracy: held-out "
                "alerts of labelled types (unknown counts as a miss)",
            ),
        ),
    }


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m deepaid_plugin_kitsune.real_traffic CAPTURE.pcap LABELS.csv [SEED]``: print the three tables."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (2, 3):
        raise SystemExit("usage: python -m deepaid_plugin_kitsune.real_traffic CAPTURE.pcap LABELS.csv [SEED]")
    for report in measure(args[0], args[1], seed=int(args[2]) if len(args) == 3 else 0).values():
        print(report.text(), end="\n\n")


if __name__ == "__main__":
    main()
