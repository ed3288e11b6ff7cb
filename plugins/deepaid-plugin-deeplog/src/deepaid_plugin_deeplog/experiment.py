"""The synthetic DeepLog experiment shared by the demo, the benchmark and the tests.

Generate workflow logs (normal training sessions; test sessions with planted anomalies), parse
them with drain3, group by block id, train DeepLog on the normal windows (cached under
``.deepaid-cache/``), detect on the test windows, and mark where each planted change sits in
every test window.
"""

from __future__ import annotations

import pathlib
import time
from typing import Any

import attrs
import numpy as np

from deepaid_plugin_deeplog.detection import DetectionMetrics, Windows, detect, make_windows, session_metrics
from deepaid_plugin_deeplog.model import DeepLog, load_deeplog, save_deeplog, train_deeplog
from deepaid_plugin_deeplog.parsing import PAD_KEY, UNKNOWN_KEY, LogKeyParser, Sessions, group_sessions
from deepaid_plugin_deeplog.synthetic import LINE_HEADER, SyntheticLog, generate_workflow_logs
from deepaid_sdk.cache import CACHE_DIR, cache_key, cache_path, cached  # noqa: F401  # CACHE_DIR: read by demo

_CACHE_VERSION = 3


@attrs.frozen
class ExperimentConfig:
    """Sizes and settings of one synthetic experiment (all of it is seeded)."""

    n_train: int = 3000
    n_test: int = 2000
    anomaly_rate: float = 0.2
    window: int = 10
    num_candidates: int = 9
    hidden: int = 64
    layers: int = 2
    epochs: int = 20
    lr: float = 1e-2
    batch_size: int = 256
    seed: int = 0


@attrs.define(eq=False)
class Experiment:
    """Everything the synthetic experiment produced."""

    config: ExperimentConfig
    train_log: SyntheticLog
    test_log: SyntheticLog
    parser: LogKeyParser
    templates: dict[int, str]
    train: Windows
    test: Windows
    test_labels: np.ndarray
    """``[S_test]`` bool per test session (in ``test.session`` order)."""
    truth: np.ndarray
    """``[N_test, W+1]`` bool: where the planted change sits in each test window (all False if absent)."""
    model: DeepLog
    flags: np.ndarray
    """``[N_test]`` bool DeepLog alerts on the test windows."""
    metrics: DetectionMetrics
    seconds: dict[str, float]
    cached: bool = False
    """The model was loaded from ``.deepaid-cache/`` instead of trained."""

    @property
    def num_keys(self) -> int:
        return self.model.num_keys


def _sessions_in_log_order(log: SyntheticLog, sessions: Sessions) -> list[np.ndarray]:
    """Parsed key sequences reordered to the generator's session order (ground truth aligned)."""
    index = sessions.index()
    missing = [b for b in log.block_ids if b not in index]
    if missing:
        raise ValueError(f"sessions: {len(missing)} generated blocks were not found in the parsed log")
    return [sessions.keys[index[b]] for b in log.block_ids]


def planted_truth(log: SyntheticLog, windows: Windows) -> np.ndarray:
    """``[N, W+1]`` bool: where each window holds its session's planted change (see
    ``SyntheticLog.planted_positions``: every position that explains it equally well)."""
    w = windows.windows.shape[1]
    truth = np.zeros((len(windows), w + 1), dtype=bool)
    for s in np.flatnonzero(log.labels):  # data preparation, once per anomalous session
        rows = np.flatnonzero(windows.session == s)
        for q in log.planted_positions(int(s)):
            back = windows.position[rows] - q  # how far before the next key position q is
            hit = (back >= 0) & (back <= w)
            truth[rows[hit], w - back[hit]] = True
    return truth


def _cache_path(config: ExperimentConfig, num_keys: int) -> pathlib.Path:
    return cache_path("deeplog", cache_key(options={**attrs.asdict(config), "num_keys": num_keys, "v": _CACHE_VERSION}))


def run_experiment(config: ExperimentConfig | None = None, *, cache: bool = True, device: Any = "cpu") -> Experiment:
    """Generate, parse, train (or load the cached model) and detect; see the module docstring."""
    cfg = config or ExperimentConfig()
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    train_log = generate_workflow_logs(cfg.n_train, anomaly_rate=0.0, seed=cfg.seed)
    test_log = generate_workflow_logs(cfg.n_test, anomaly_rate=cfg.anomaly_rate, seed=cfg.seed + 1)
    seconds["generate"] = time.perf_counter() - t

    t = time.perf_counter()
    parser = LogKeyParser(content_pattern=LINE_HEADER)
    train_keys = parser.fit_transform(train_log.lines)
    test_keys = parser.fit_transform(test_log.lines)  # new (anomalous) templates get their own keys
    train_sessions = _sessions_in_log_order(train_log, group_sessions(train_log.lines, train_keys))
    test_sessions = _sessions_in_log_order(test_log, group_sessions(test_log.lines, test_keys))
    seconds["parse"] = time.perf_counter() - t

    train = make_windows(train_sessions, cfg.window, pad_key=PAD_KEY)
    test = make_windows(test_sessions, cfg.window, pad_key=PAD_KEY)
    num_keys = parser.num_keys

    t = time.perf_counter()
    model, from_cache = cached(
        _cache_path(cfg, num_keys) if cache else None,
        lambda: train_deeplog(
            train.windows,
            train.next_keys,
            num_keys,
            hidden=cfg.hidden,
            layers=cfg.layers,
            epochs=cfg.epochs,
            lr=cfg.lr,
            batch_size=cfg.batch_size,
            seed=cfg.seed,
            device=device,
        ),
        save_deeplog,
        lambda p: load_deeplog(p, device=device),
    )
    seconds["train"] = time.perf_counter() - t

    t = time.perf_counter()
    flags = detect(model, test.windows, test.next_keys, num_candidates=cfg.num_candidates)
    seconds["detect"] = time.perf_counter() - t
    return Experiment(
        config=cfg,
        train_log=train_log,
        test_log=test_log,
        parser=parser,
        templates=parser.templates,
        train=train,
        test=test,
        test_labels=test_log.labels,
        truth=planted_truth(test_log, test),
        model=model,
        flags=flags,
        metrics=session_metrics(flags, test.session, test_log.labels),
        seconds=seconds,
        cached=from_cache,
    )


#: Keys a reference never introduces in the synthetic experiment.
RESERVED_KEYS: dict[str, Any] = {"pad_key": PAD_KEY, "unknown_key": UNKNOWN_KEY}
