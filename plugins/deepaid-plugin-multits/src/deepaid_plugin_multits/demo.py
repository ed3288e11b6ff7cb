"""``deepaid demo multits``: train an LSTM predictor on a synthetic traffic series, explain its alerts."""

from __future__ import annotations

import pathlib
import time

import numpy as np

from deepaid_plugin_multits.detector import SyntheticDetector, fit_detector
from deepaid_plugin_multits.synthetic import make_multits
from deepaid_sdk.evaluation import label_flip_rate, precision_recall_at_k
from deepaid_sdk.presets import create
from deepaid_sdk.results import InterpretationBatch


def run(
    out_dir: pathlib.Path, *, events: int = 80, train_steps: int = 4000, epochs: int = 15, seed: int = 0, show: int = 2
) -> int:
    """Synthetic series -> LSTM detector -> alerts -> references (last step, then all steps) -> tables, plots."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    planted = 3
    data = make_multits(events=events, train_steps=train_steps, planted=planted, seed=seed)
    started = time.perf_counter()
    det = fit_detector(data, epochs=epochs, seed=seed)
    adapter = det.adapter
    print(
        f"multits demo: {data.features} features ({', '.join(data.feature_names)}), window W={data.window}; "
        f"LSTM predictor trained on {len(data.train)} normal steps in {time.perf_counter() - started:.1f}s; "
        f"threshold {adapter.threshold:.4g} (99th percentile of training RMSE)"
    )
    samples, truth, alerts = det.events()
    print(
        f"{len(samples)} planted events ({planted} features each, spikes and level shifts); "
        f"{int(alerts.sum())} raised an alert"
    )
    x, truth = samples[alerts], truth[alerts]
    if len(x) == 0:
        print("no alerts to explain")
        return 1
    names = list(data.feature_names)
    for steps in ("last", "all"):
        interp = create("multits", model=adapter, k=planted, steps=steps)
        batch = interp.interpret_batch(x)
        _, recall = precision_recall_at_k(batch, truth, k=planted)
        print(
            f"\n== steps={steps!r}: K={planted}, recall of planted cells {recall:.3f}, "
            f"label-flip rate {label_flip_rate(batch):.3f}, {batch.throughput:.0f} anomalies/s"
        )
        for i in range(min(show, len(batch))):
            event = int(np.flatnonzero(alerts)[i])
            planted_names = [names[d] for d in np.flatnonzero(truth[i, -1])]
            print(
                f"\nalert {i} (event at step {data.onsets[event]}, {data.kinds[event]} in {', '.join(planted_names)}), "
                "original units:"
            )
            print(batch[i].table(names, inverse=det.inverse))
        if steps == "last":
            _plots(batch, names, det, out_dir)
    return 0


def _plots(batch: InterpretationBatch, names: list[str], det: SyntheticDetector, out_dir: pathlib.Path) -> None:
    """Bar chart and window view of the first alert, heat map of all (needs the ``plot`` extra).

    All in original units; the heat map shows each cell's change in standard deviations of the
    normal windows, its rows named as the tables above (alert 0, 1, ...).
    """
    try:
        from deepaid_plugin_multits.views import plot_window
        from deepaid_sdk.results.plotting import plot_heatmap, plot_interpretation
    except ImportError:  # pragma: no cover - depends on the environment
        print("\nplots skipped: pip install 'deepaid-plugin-multits[plot]'")
        return
    try:
        paths = [
            plot_interpretation(batch[0], out_dir / "multits-alert-0-bars.png", names, inverse=det.inverse),
            plot_window(batch[0], out_dir / "multits-alert-0-window.png", names, inverse=det.inverse),
            plot_heatmap(
                batch,
                out_dir / "multits-heatmap.png",
                names,
                det.inverse,
                ids=np.arange(len(batch)),
                normal=det.normal_samples(limit=2000),
            ),
        ]
    except ImportError as exc:  # pragma: no cover - matplotlib missing
        print(f"\nplots skipped: {exc}")
        return
    print("\nplots: " + ", ".join(str(p) for p in paths))
