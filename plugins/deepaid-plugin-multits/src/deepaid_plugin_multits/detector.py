"""A trained, calibrated detector for a synthetic series: what the demo and the benchmark share."""

from __future__ import annotations

import pathlib
from typing import Any

import attrs
import numpy as np

from deepaid_plugin_multits.adapters import LSTMPredictorAdapter
from deepaid_plugin_multits.model import cached_predictor
from deepaid_plugin_multits.synthetic import SyntheticSeries
from deepaid_plugin_multits.windows import sliding_windows
from deepaid_sdk.scaling import StandardScaler


@attrs.define(eq=False)
class SyntheticDetector:
    """The synthetic data, the scaler fitted on its normal series, and the calibrated adapter."""

    data: SyntheticSeries
    scaler: StandardScaler
    """Original units <-> model units (exact inverse)."""
    adapter: LSTMPredictorAdapter
    """Calibrated on the windows of the (scaled) normal training series."""

    def normal_samples(self, limit: int | None = None) -> np.ndarray:
        """Windows ``[N, W + 1, D]`` of the scaled training series (evenly thinned to ``limit``)."""
        samples = sliding_windows(self.scaler.transform(self.data.train), self.data.window)
        if limit is not None and len(samples) > limit:
            samples = samples[np.linspace(0, len(samples) - 1, limit).astype(np.int64)]
        return samples

    def events(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scaled windows ending at each event's onset, their planted cells, and the detector's alerts (bool)."""
        samples = self.scaler.transform(self.data.anomaly_samples()).astype(np.float32)
        alerts = (self.adapter.scores(samples) > self.adapter.threshold).cpu().numpy()
        return samples, self.data.truth_samples(), alerts

    def inverse(self, x: np.ndarray) -> np.ndarray:
        """Model units back to original units (for tables and plots)."""
        return self.scaler.inverse_transform(np.asarray(x, dtype=np.float64))


def fit_detector(
    data: SyntheticSeries,
    *,
    hidden: int = 32,
    epochs: int = 15,
    percentile: float = 99.0,
    seed: int = 0,
    device: Any = "cpu",
    cache_dir: pathlib.Path | str | None = None,
) -> SyntheticDetector:
    """Scale the normal series, train (or load from cache) the LSTM predictor, calibrate its threshold."""
    scaler = StandardScaler().fit(data.train)
    train = scaler.transform(data.train).astype(np.float32)
    model = cached_predictor(
        train, data.window, hidden=hidden, epochs=epochs, seed=seed, device=device, cache_dir=cache_dir
    )
    adapter = LSTMPredictorAdapter(model, data.window)
    adapter.calibrate_series(train, percentile)
    return SyntheticDetector(data=data, scaler=scaler, adapter=adapter)
