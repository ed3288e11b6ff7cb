"""``deepaid demo tabular``: train an autoencoder on synthetic traffic-like rows, detect, explain.

The data has 100 features in original units (counts, milliseconds, ratios); a min-max scaler
maps them to model units, the autoencoder learns the normal rows, and the ``tabular`` preset
explains the alerts under the features' validity rules (counts stay whole and >= 0). Tables
are printed in original units through the scaler's inverse; plots go to the out folder.
"""

from __future__ import annotations

import contextlib
import csv
import pathlib
import time
from typing import Iterator

import numpy as np
import torch

import deepaid_sdk
from deepaid_plugin_tabular import synthetic
from deepaid_plugin_tabular.features import FeatureSpec
from deepaid_plugin_tabular.preset import TabularInterpreter
from deepaid_sdk.evaluation import precision_recall_at_k
from deepaid_sdk.scaling import MinMaxScaler

K = 10
SHOWN = 3


def _write_csv(path: pathlib.Path, names: tuple[str, ...], rows: np.ndarray, integer: np.ndarray) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for row in rows:  # file output, not a hot path
            writer.writerow([str(int(v)) if whole else f"{v:.6g}" for v, whole in zip(row, integer)])


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run with one intra-op thread, then restore the caller's setting.

    The demo's tensors are small (rows of 100 features): extra threads save little, and on a
    shared machine each op waits for a descheduled sibling thread (measured: 7 s vs 47 s).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run(
    out_dir: pathlib.Path,
    *,
    n_normal: int = 4000,
    n_anomalies: int = 200,
    seed: int = 0,
    cache_dir: pathlib.Path | str | None = None,
) -> int:
    """Run the demo, print what it does, write CSV and PNG files into ``out_dir``; returns 0 on success."""
    with _one_thread():
        return _demo(pathlib.Path(out_dir), n_normal, n_anomalies, seed, cache_dir)


def _demo(out: pathlib.Path, n_normal: int, n_anomalies: int, seed: int, cache_dir: pathlib.Path | str | None) -> int:
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    table = synthetic.blob(n_normal=n_normal, n_anomalies=n_anomalies, seed=seed)
    raw_normal, raw_alerts = table.to_original(table.normal), table.to_original(table.anomalies)
    alerts_csv = out / "tabular-anomalies.csv"
    _write_csv(alerts_csv, table.feature_names, raw_alerts, table.integer)
    print(
        f"data: {len(raw_normal)} normal rows x {table.width} features (blob, original units); "
        f"{n_anomalies} anomalies with {table.config['shifted']} shifted features each -> {alerts_csv}"
    )

    # Feature names from the CSV header; counts are whole numbers and never negative.
    counts = [n for n, whole in zip(table.feature_names, table.integer) if whole]
    spec = FeatureSpec.from_csv(alerts_csv, integer=counts, low={n: 0.0 for n in counts})
    scaler = MinMaxScaler().fit(raw_normal)
    x_normal = scaler.transform(raw_normal).astype(np.float32)
    model = synthetic.cached_autoencoder(
        x_normal, name="tabular-demo", cache_dir=cache_dir, seed=seed, **synthetic.TRAINING["blob"]
    )
    print(
        f"detector: denoising MLP autoencoder {table.width}-64-16-64-{table.width} "
        f"({time.perf_counter() - started:.1f}s incl. training or cache)"
    )

    interp = deepaid_sdk.create(
        "tabular", model=model, normal=x_normal, percentile=99.0, k=K, features=spec, scaler=scaler, seed=seed
    )
    assert isinstance(interp, TabularInterpreter)
    adapter = interp.adapter
    x = scaler.transform(raw_alerts).astype(np.float32)
    scores = adapter.scores(x).cpu().numpy()
    alert = scores > adapter.threshold
    print(f"threshold (99th percentile of normal scores): {adapter.threshold:.4g}; alerts: {int(alert.sum())}/{len(x)}")
    if not alert.any():
        print("no alerts to explain")
        return 1

    t0 = time.perf_counter()
    batch = interp.interpret_batch(x[alert])
    seconds = time.perf_counter() - t0
    _, recall = precision_recall_at_k(batch, table.truth[alert], K)
    cal = interp.calibration
    assert cal is not None  # the tabular preset always calibrates
    print(
        f"explained {len(batch)} alerts in {seconds:.2f}s ({len(batch) / seconds:,.0f}/s): "
        f"reference judged normal for {batch.flip_rate:.1%}, recall@{K} of the shifted features {recall:.1%}"
    )
    print(
        f"search: K={cal.k}, lr={cal.lr:.3g}, steps={cal.steps}, lambda={cal.lam:.3g}, eps={cal.eps:.3g} "
        f"(calibrated from D={table.width}, data scale {cal.scale:.3g}, threshold {adapter.threshold:.3g})"
    )

    order = np.argsort(-batch.scores)[:SHOWN]
    ids = np.flatnonzero(alert)  # an alert's id: its row in the anomalies CSV
    print(
        "\nThe alerts with the highest scores; each table lists the changed features most important first "
        "(ranked by how much undoing the change would raise the score), in original units."
    )
    truth = table.truth[alert]
    for rank, i in enumerate(order):
        item = batch[int(i)]
        planted = ", ".join(spec.names[j] for j in np.flatnonzero(truth[i]))
        print(f"\nalert #{int(ids[i])} (highest score {rank + 1}/{SHOWN}); shifted features: {planted}")
        print(interp.table(item))
    try:
        # Original units, as the tables; the heat map in normal standard deviations per feature.
        paths = [interp.plot(batch[int(i)], out / f"tabular-alert-{int(ids[i])}.png") for i in order]
        paths.append(interp.heatmap(batch, out / "tabular-heatmap.png", ids=ids, normal=x_normal))
        print("\nplots: " + ", ".join(str(p) for p in paths))
    except ImportError as exc:
        print(f"\nplots skipped: {exc}")
    print(f"done in {time.perf_counter() - started:.1f}s (torch threads: {torch.get_num_threads()})")
    return 0
