"""``deepaid demo kitsune``: packets -> AfterImage features, KitNET, alerts, explanations, plots."""

from __future__ import annotations

import pathlib
import time
from typing import Any

import numpy as np
import torch

import deepaid_sdk
from deepaid_plugin_kitsune.adapters import KitNETAdapter
from deepaid_plugin_kitsune.afterimage import pcap_features
from deepaid_plugin_kitsune.kitnet import fit_kitnet
from deepaid_plugin_kitsune.names import feature_names
from deepaid_plugin_kitsune.preset import KitsuneInterpreter
from deepaid_plugin_kitsune.synthetic import demo_frames, traffic_features, write_pcap
from deepaid_sdk.evaluation import conciseness, label_flip_rate, precision_recall_at_k


def _packets_to_features(out_dir: pathlib.Path, packets: int, seed: int, names: list[str]) -> None:
    """A synthetic capture written with dpkt, read back, 115 statistics per packet (AfterImage)."""
    started = time.perf_counter()
    pcap = write_pcap(out_dir / "kitsune-demo.pcap", demo_frames(packets, seed=seed))
    features = pcap_features(pcap)
    print(
        f"AfterImage: {features.shape[0]} packets of {pcap} -> {features.shape[1]} features "
        f"in {time.perf_counter() - started:.2f} s"
    )
    last = features[-1]
    print("  last packet: " + ", ".join(f"{names[i]}={last[i]:.4g}" for i in (0, 30, 33, 35, 75, 80)))


def _plots(
    out_dir: pathlib.Path, batch: Any, idx: np.ndarray, top: int, interp: KitsuneInterpreter, normal: np.ndarray
) -> None:
    """The top alerts' bar charts and the heat map of all (matplotlib is the optional 'plot' extra)."""
    try:
        from deepaid_sdk.results.plotting import plot_heatmap, plot_interpretation

        paths = [
            plot_interpretation(batch[j], out_dir / f"kitsune-alert-{idx[j]}.png", interp.feature_names)
            for j in range(min(top, len(idx)))
        ]
        # KitNET reads raw features: per-feature colours (normal standard deviations) keep a feature in
        # bytes from washing out one in packets; rows are named by the alerts' ids.
        paths.append(plot_heatmap(batch, out_dir / "kitsune-heatmap.png", interp.feature_names, ids=idx, normal=normal))
        print("plots: " + ", ".join(str(p) for p in paths))
    except ImportError as exc:
        print(f"plots skipped: {exc}")


def run(
    out_dir: pathlib.Path,
    *,
    n_normal: int = 12_000,
    n_anomalies: int = 150,
    packets: int = 3000,
    top: int = 3,
    seed: int = 0,
) -> int:
    """Train KitNET on synthetic traffic, explain its top alerts with AfterImage names, write plots."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = feature_names()

    _packets_to_features(out_dir, packets, seed, names)

    # 2. KitNET on synthetic traffic features with planted anomalies.
    data = traffic_features(n_normal, n_anomalies, seed=seed)
    started = time.perf_counter()
    model = fit_kitnet(data.normal, seed=seed)
    adapter = KitNETAdapter(model)
    with torch.no_grad():
        test_alerts = ~adapter.is_normal(adapter.prepare(data.test_normal))
        scores = adapter.score(adapter.prepare(data.anomalies))
    alert = (scores > adapter.threshold).cpu().numpy()
    print(
        f"\nKitNET: {len(model.groups)} autoencoders (largest {max(map(len, model.groups))} features), trained on "
        f"{n_normal} rows in {time.perf_counter() - started:.1f} s; threshold {adapter.threshold:.4g}"
    )
    kinds = np.asarray(data.kinds)
    detected = ", ".join(f"{k} {alert[kinds == k].mean():.0%}" for k in sorted(set(data.kinds)))
    print(f"  false alerts on held-out normal rows: {float(test_alerts.float().mean()):.1%}; detected: {detected}")

    # 3. Explain every alert; show the highest-scoring ones.
    interp = deepaid_sdk.create("kitsune", model=model, k=5)
    assert isinstance(interp, KitsuneInterpreter)
    idx = np.flatnonzero(alert)
    idx = idx[np.argsort(-scores.cpu().numpy()[idx], kind="stable")]
    started = time.perf_counter()
    batch = interp.interpret_batch(data.anomalies[idx])
    seconds = time.perf_counter() - started
    print(f"\nExplained {len(idx)} alerts in {seconds:.2f} s (K = 5, search in KitNET's min-max units)")
    print(
        "Each table lists the changed features most important first: ranked by how much undoing the change "
        "would raise the score."
    )
    for j in range(min(top, len(idx))):
        planted = [names[i] for i in np.flatnonzero(data.truth[idx[j]])]
        print(f"\nalert {idx[j]} ({kinds[idx[j]]}; planted: {', '.join(planted)})")
        print(batch[j].table(interp.feature_names))  # rows in rank order
    precision, recall = precision_recall_at_k(batch, data.truth[idx], k=5)
    print(
        f"\nlabel-flip rate {label_flip_rate(batch):.3f}, precision@5 {precision:.3f}, recall@5 {recall:.3f}, "
        f"features changed {conciseness(batch):.2f} on average"
    )

    _plots(out_dir, batch, idx, top, interp, data.normal)
    return 0
