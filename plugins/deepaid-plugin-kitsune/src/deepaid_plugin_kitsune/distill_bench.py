"""``deepaid bench distill``: rules distilled from 10 labelled KitNET alerts per class, and a retrained KitNET.

Kitsune-style synthetic traffic (``distill_case``): four attack types an analyst labels, two
never labelled, and a benign drift (``backup``) that KitNET flags again and again. With 10
labelled alerts per class the bench measures, on the held-out alerts:

- classification of the labelled classes (f1-micro; an ``unknown`` answer counts as a miss),
- never-labelled attack types flagged ``unknown``,
- recurring false positives suppressed, and attacks wrongly suppressed,

against a random forest on the raw features and 1-NN on the explanations, given the same labels.
Then it improves the detector: KitNET refit on its training rows plus the retraining set built
from the false positives (labelled and suppressed) and their references, and, for detectors that
cannot be refit, the allow-list; false alerts and attack recall are counted on fresh traffic.
"""

from __future__ import annotations

import pathlib
import time
from typing import Any

import numpy as np
import torch

import deepaid_sdk
from deepaid_plugin_kitsune.adapters import KitNETAdapter
from deepaid_plugin_kitsune.bench import CACHE, TRAIN
from deepaid_plugin_kitsune.distill_case import (
    DRIFT,
    FALSE_POSITIVE,
    KINDS,
    LABELLED,
    UNLABELLED,
    DistillCase,
    distill_case,
    kind_rows,
    verdict_of,
)
from deepaid_plugin_kitsune.kitnet import KitNET, fit_kitnet
from deepaid_plugin_kitsune.names import feature_names
from deepaid_plugin_kitsune.synthetic import traffic_rows
from deepaid_sdk.bench.report import BenchmarkReport
from deepaid_sdk.distill import AllowList, Distiller, IntervalStates, as_alerts, retraining_set
from deepaid_sdk.distill.magnitude import MagnitudeStates
from deepaid_sdk.progress import progress

LABELS_PER_CLASS = 10
HELD_OUT_PER_KIND = 100
EVAL_NORMAL, EVAL_PER_KIND = 4000, 300
COLUMNS = (
    "method",
    "f1_micro",
    "unknown_flagged",
    "fp_suppressed",
    "attacks_suppressed",
    "false_alerts",
    "drift_alerts",
    "attack_recall",
)


def _sklearn() -> Any:
    try:
        from sklearn import ensemble, metrics, neighbors
    except ImportError as exc:  # pragma: no cover - the bench extra
        raise ValueError(
            "the distill bench needs scikit-learn for its baselines: pip install 'deepaid-plugin-kitsune[bench]'"
        ) from exc
    return ensemble, metrics, neighbors


def split(kinds: tuple[str, ...], per_class: int = LABELS_PER_CLASS) -> np.ndarray:
    """``[N]`` bool: the first ``per_class`` alerts of each labelled kind and of the drift (the analyst's labels)."""
    kinds_arr = np.asarray(kinds)
    train = np.zeros(len(kinds), dtype=bool)
    for kind in (*LABELLED, DRIFT):
        train[np.flatnonzero(kinds_arr == kind)[:per_class]] = True
    return train


def scores(predicted: np.ndarray, kinds: np.ndarray, suppressed: np.ndarray) -> dict[str, float]:
    """f1-micro on labelled kinds, unknown flagged on unlabelled kinds, suppression of FPs and of attacks."""
    _, metrics, _ = _sklearn()
    truth = np.array([verdict_of(k) for k in kinds])
    known = np.isin(kinds, (*LABELLED, DRIFT))
    classes = [*LABELLED, FALSE_POSITIVE]
    fp = kinds == DRIFT
    return {
        "f1_micro": float(metrics.f1_score(truth[known], predicted[known], labels=classes, average="micro")),
        "unknown_flagged": float(np.mean(predicted[np.isin(kinds, UNLABELLED)] == "unknown")),
        "fp_suppressed": float(suppressed[fp].mean()),
        "attacks_suppressed": float(suppressed[~fp].mean()),
    }


def explanation_vectors(case: DistillCase) -> np.ndarray:
    """``[N, 115]`` each explanation as its changes (anomaly - reference) in KitNET's min-max units."""
    span = (case.model.x_max - case.model.x_min).cpu().numpy()
    span = np.where(span > 1e-12, span, 1.0)
    return (case.batch.anomalies - case.batch.references) / span


def baselines(case: DistillCase, train: np.ndarray, seed: int, trees: int = 200) -> dict[str, dict[str, float]]:
    """Random forest on raw features and 1-NN on explanations, trained on the same labels."""
    ensemble, _, neighbors = _sklearn()
    kinds = np.asarray(case.kinds)
    labels = np.array(case.verdicts)[train]
    test = ~train
    out = {}
    forest = ensemble.RandomForestClassifier(n_estimators=trees, random_state=seed).fit(
        case.batch.anomalies[train], labels
    )
    proba = forest.predict_proba(case.batch.anomalies[test])
    pred = np.where(proba.max(axis=1) >= 0.5, forest.classes_[proba.argmax(axis=1)], "unknown")
    out["random forest, raw features (unknown: max proba < 0.5)"] = scores(pred, kinds[test], pred == FALSE_POSITIVE)
    vec = explanation_vectors(case)
    knn = neighbors.KNeighborsClassifier(n_neighbors=1).fit(vec[train], labels)
    loo = neighbors.NearestNeighbors(n_neighbors=2).fit(vec[train]).kneighbors(vec[train])[0][:, 1]
    dist, _ = knn.kneighbors(vec[test], n_neighbors=1)
    pred = np.where(dist[:, 0] <= loo.max(), knn.predict(vec[test]), "unknown")
    out["1-NN on explanations (unknown: farther than any training pair)"] = scores(
        pred, kinds[test], pred == FALSE_POSITIVE
    )
    return out


def detector_counts(
    model: KitNET, normal: np.ndarray, drift: np.ndarray, attacks: np.ndarray
) -> tuple[int, int, float, np.ndarray]:
    """False alerts on normal + drift rows, those on drift rows, attack recall, and the attacks' alert mask."""
    adapter = KitNETAdapter(model)
    with torch.no_grad():
        on_normal = int((~adapter.is_normal(adapter.prepare(normal))).sum())
        on_drift = int((~adapter.is_normal(adapter.prepare(drift))).sum())
        caught = (~adapter.is_normal(adapter.prepare(attacks))).cpu().numpy()
    return on_normal + on_drift, on_drift, float(caught.mean()), caught


def refit(normal: np.ndarray, extra: np.ndarray, seed: int) -> KitNET:
    """KitNET trained like the original on its normal rows plus ``extra``, shuffled together."""
    rows = np.concatenate([normal, extra.astype(normal.dtype)])
    rows = rows[np.random.default_rng(seed).permutation(len(rows))]
    return fit_kitnet(rows, seed=seed, **TRAIN)


def run(
    n: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    out: pathlib.Path | None = None,
    cache: pathlib.Path | None = CACHE,
) -> BenchmarkReport:
    """Distilled rules vs baselines on held-out KitNET alerts, then KitNET retrained from false positives."""
    started = time.perf_counter()
    per_kind = (n or HELD_OUT_PER_KIND) + LABELS_PER_CLASS
    bar = progress(total=6, desc="bench distill", unit="step")
    case = distill_case(per_kind, seed, device, cache)
    bar.update()
    kinds = np.asarray(case.kinds)
    train = split(case.kinds)
    labels = [case.verdicts[i] for i in np.flatnonzero(train)]
    results, distiller, triage = _distilled(case, train, labels)
    bar.update()
    results.update(baselines(case, train, seed))
    bar.update()

    # Improving the detector, measured on fresh traffic.
    normal, drift, attacks = _fresh_traffic(seed)
    marks = np.zeros(len(kinds), dtype=bool)
    marks[np.flatnonzero(train)] = np.array(labels) == FALSE_POSITIVE
    marks[np.flatnonzero(~train)] = triage.suppressed
    refit_rows, refit_note = _refit_rows(case, marks, train, (normal, drift, attacks), seed, bar)

    # The allow-list, for detectors that cannot be refit: explain the fresh alerts, suppress rule matches.
    allow_row = _allow_list_row(case, distiller, (normal, drift, attacks))
    bar.update()
    bar.close()

    rows = [
        (name, r["f1_micro"], r["unknown_flagged"], r["fp_suppressed"], r["attacks_suppressed"], None, None, None)
        for name, r in results.items()
    ]
    rows += [*refit_rows, allow_row]
    if out is not None:
        _write_rules(pathlib.Path(out), distiller)
    counts = {k: int((kinds == k).sum()) for k in KINDS}
    return BenchmarkReport(
        name="distill",
        columns=COLUMNS,
        rows=tuple(rows),
        setup={
            "seed": seed,
            "device": device,
            "torch_threads": torch.get_num_threads(),
            "alerts": counts,
            "labels_per_class": LABELS_PER_CLASS,
            "labelled": list(LABELLED),
            "never_labelled": list(UNLABELLED),
            "false_positive_kind": DRIFT,
            "detector": f"KitNET {len(case.model.groups)} AEs",
            "k": 5,
            "fresh_traffic": f"{EVAL_NORMAL} normal + {len(drift)} {DRIFT} + {EVAL_PER_KIND} of each attack",
            "seconds": round(time.perf_counter() - started, 1),
        },
        notes=(
            refit_note,
            f"false alerts on normal rows stay near 1% of {EVAL_NORMAL}: KitNET's threshold is the 99th percentile "
            "of its training scores",
            "f1_micro: held-out alerts of the labelled kinds (an 'unknown' answer is a miss); unknown_flagged: "
            "never-labelled kinds; fp_suppressed/attacks_suppressed: held-out drift / attack alerts suppressed; "
            "false_alerts and attack_recall: fresh traffic",
        ),
    )


def _distilled(
    case: DistillCase, train: np.ndarray, labels: list[str]
) -> tuple[dict[str, dict[str, Any]], Distiller, Any]:
    """Scores of the distillers fit on the labelled alerts, on the held-out ones; the ``path`` one and its triage."""
    kinds = np.asarray(case.kinds)
    alerts = as_alerts(case.batch)
    states = IntervalStates.fit(case.normal, feature_names())
    train_alerts = [alerts[i] for i in np.flatnonzero(train)]
    test_alerts = [alerts[i] for i in np.flatnonzero(~train)]
    results: dict[str, dict[str, Any]] = {}
    distillers: dict[str, Distiller] = {}
    magnitude = MagnitudeStates.fit(case.normal, feature_names())
    for mode, min_score, chosen, calibrate in (
        ("path", None, states, False),
        ("fsm", None, states, False),
        ("fsm", 0.4, states, False),
        ("path", None, magnitude, False),
        ("path", None, magnitude, True),
    ):
        options: dict[str, Any] = {} if min_score is None else {"min_score": min_score}
        model = Distiller(chosen, mode=mode, calibrate=calibrate, **options).fit(train_alerts, labels)
        if chosen is states:
            distillers.setdefault(mode, model)
        pred = model.triage(test_alerts)
        how = f"{chosen.name} states, {mode}, min_score {model.min_score:g}{', calibrated' if calibrate else ''}"
        results[f"distiller ({how}, {len(model.rules)} rules)"] = scores(
            np.array(pred.verdicts), kinds[~train], pred.suppressed
        )
    distiller = distillers["path"]
    return results, distiller, distiller.triage(test_alerts)


def _fresh_traffic(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normal, drift and attack rows (``EVAL_PER_KIND`` of each attack kind) the detectors never saw."""
    rng = np.random.default_rng(seed + 2)
    normal = traffic_rows(EVAL_NORMAL, rng).astype(np.float32)
    drift = kind_rows(DRIFT, EVAL_PER_KIND * 3, rng)
    attack_kinds = [k for k in KINDS if k != DRIFT]
    attacks = np.concatenate([kind_rows(k, EVAL_PER_KIND, rng) for k in attack_kinds])
    return normal, drift, attacks


def _refit_rows(
    case: DistillCase,
    marks: np.ndarray,
    train: np.ndarray,
    fresh: tuple[np.ndarray, np.ndarray, np.ndarray],
    seed: int,
    bar: Any,
) -> tuple[list[tuple[Any, ...]], str]:
    """Report rows of KitNET as trained and refit on the retraining sets (from the distilled FPs, from the
    labelled FPs only), counted on the fresh traffic, and the note comparing them; ``bar`` moves twice."""
    normal, drift, attacks = fresh
    fp_before, drift_before, recall_before, caught_before = detector_counts(case.model, normal, drift, attacks)
    distilled = retraining_set(case.batch, marks, contexts=case.normal, seed=seed)
    labelled_only = retraining_set(case.batch, np.where(train, marks, False), contexts=case.normal, seed=seed)
    retrained = refit(case.normal, distilled.rows, seed)
    bar.update()
    fp_after, drift_after, recall_after, caught_after = detector_counts(retrained, normal, drift, attacks)
    small = refit(case.normal, labelled_only.rows, seed)
    fp_small, drift_small, recall_small, _ = detector_counts(small, normal, drift, attacks)
    bar.update()
    rows = [
        ("KitNET as trained", None, None, None, None, fp_before, drift_before, recall_before),
        (
            f"KitNET refit + {distilled.rows.shape[0]} rows from {distilled.alerts} distilled FPs",
            None,
            None,
            None,
            None,
            fp_after,
            drift_after,
            recall_after,
        ),
        (
            f"KitNET refit + {labelled_only.rows.shape[0]} rows from the {labelled_only.alerts} labelled FPs only",
            None,
            None,
            None,
            None,
            fp_small,
            drift_small,
            recall_small,
        ),
    ]
    kept_before = float(caught_after[caught_before].mean()) if caught_before.any() else float("nan")
    note = (
        f"false alerts on fresh traffic: {fp_before} -> {fp_after} after the refit "
        f"({fp_before / max(fp_after, 1):.1f}x fewer; on the drift {drift_before} -> {drift_after}, "
        f"{drift_before / max(drift_after, 1):.1f}x); attacks the old KitNET caught that the refit one still "
        f"catches: {kept_before:.4f}"
    )
    return rows, note


def _allow_list_row(
    case: DistillCase, distiller: Distiller, fresh: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[Any, ...]:
    """The report row of KitNET + the distiller's allow-list: the fresh alerts explained, rule matches suppressed."""
    normal, drift, attacks = fresh
    interp = deepaid_sdk.create("kitsune", model=case.model, k=5)
    adapter = KitNETAdapter(case.model)
    traffic = np.concatenate([normal, drift, attacks])
    with torch.no_grad():
        alert = (~adapter.is_normal(adapter.prepare(traffic))).cpu().numpy()
    is_attack = np.arange(len(traffic)) >= len(normal) + len(drift)
    allowed = np.zeros(len(traffic), dtype=bool)
    allowed[alert] = AllowList(distiller).allowed(interp.interpret_batch(traffic[alert]))
    kept = alert & ~allowed
    is_drift = ~is_attack & (np.arange(len(traffic)) >= len(normal))
    return (
        f"KitNET + allow-list ({len(AllowList(distiller).entries)} rules)",
        None,
        None,
        None,
        None,
        int((kept & ~is_attack).sum()),
        int((kept & is_drift).sum()),
        float(kept[is_attack].mean()),
    )


def _write_rules(out: pathlib.Path, distiller: Distiller) -> None:
    """The distilled rules as JSON and as text in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "distill-rules.json").write_text(distiller.to_json())
    (out / "distill-rules.txt").write_text(distiller.to_text() + "\n")
