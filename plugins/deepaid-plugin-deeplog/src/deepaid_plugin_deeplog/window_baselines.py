"""The window baselines DeepAID's ``deeplog`` preset is compared against (``bench``, ``session_bench``).

- ``next-key-top-guess``: the next key replaced by the model's top guess (the trivial reference).
- ``<method>+top-position``, for integrated gradients, saliency, input x gradient and DeepLift
  (``deepaid_baselines.attribution.attribute``): attribution of the surprise ``-log p(next key)``
  to the one-hot window; the position with the largest |attribution| is replaced by the key the
  gradient favours most among those the model accepts (the 8 best by gradient are verified).
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from deepaid_plugin_deeplog.adapters import DeepLogAdapter
from deepaid_plugin_deeplog.search import key_gradient
from deepaid_sdk import InterpretationBatch
from deepaid_sdk.bench.case import Explainer
from deepaid_sdk.search import build_batch

#: Attribution methods of deepaid-baselines used as baselines (name in ``attribute``).
ATTRIBUTION_BASELINES = ("integrated_gradients", "saliency", "input_x_gradient", "deeplift")
#: Keys verified per alert at the attributed position (the same budget as the deeplog search).
VERIFIED_KEYS = 8


def allowed_keys(adapter: DeepLogAdapter) -> torch.Tensor:
    """``[C]`` bool: the keys a reference may use (every key but the reserved ones)."""
    allowed = torch.ones(adapter.num_keys, dtype=torch.bool, device=adapter.device)
    allowed[adapter.reserved()] = False
    return allowed


def next_key_explainer(adapter: DeepLogAdapter) -> Explainer:
    """The trivial reference: the next key replaced by the model's top guess."""

    def explain(anomalies: np.ndarray, seed: int) -> InterpretationBatch:
        started = time.perf_counter()
        x = adapter.prepare(anomalies, "anomalies")
        with torch.no_grad():
            logits = adapter.logits(adapter.one_hot(x[:, : adapter.window]))
            guess = logits.masked_fill(~allowed_keys(adapter)[None], float("-inf")).argmax(dim=1)
        refs = x.clone()
        refs[:, adapter.window] = guess
        return build_batch(
            adapter,
            x,
            refs,
            steps=np.ones(len(x), dtype=np.int64),
            started=started,
            method="next-key-top-guess",
            params={"reference": "model's top next-key guess"},
        )

    return explain


def attribution_explainer(adapter: DeepLogAdapter, method: str, attribute: Callable[..., torch.Tensor]) -> Explainer:
    """Top-|attribution| window position, replaced by the best verified key the gradient favours."""

    def explain(anomalies: np.ndarray, seed: int) -> InterpretationBatch:
        started = time.perf_counter()
        x = adapter.prepare(anomalies, "anomalies")
        b, w, c = x.shape[0], adapter.window, adapter.num_keys
        nxt = x[:, w]

        def surprise(onehot: torch.Tensor) -> torch.Tensor:
            # Captum may stack several scaled copies of the batch: the next keys repeat with them.
            keys = nxt.repeat(onehot.shape[0] // b) if onehot.shape[0] != b else nxt
            return -adapter.logits(onehot).log_softmax(dim=1).gather(1, keys[:, None]).squeeze(1)

        onehot = adapter.one_hot(x[:, :w])
        attr = attribute(method, surprise, onehot, None, module=adapter.model, seed=seed, chunk=max(b, 1))
        importance = attr.abs().sum(dim=2)
        if adapter.pad_key is not None:
            importance = importance.masked_fill(x[:, :w] == adapter.pad_key, float("-inf"))
        pos = importance.argmax(dim=1)
        grad = key_gradient(adapter, x).grad
        rows = torch.arange(b, device=x.device)
        gain = grad[rows, pos] - grad[rows, pos].gather(1, x[rows, pos][:, None])
        gain = gain.masked_fill(~allowed_keys(adapter)[None], float("-inf")).scatter(
            1, x[rows, pos][:, None], float("-inf")
        )
        keys = gain.topk(min(VERIFIED_KEYS, c - 1), dim=1).indices
        cand = x[:, None, :].repeat(1, keys.shape[1], 1)
        cand[rows[:, None], torch.arange(keys.shape[1], device=x.device)[None], pos[:, None]] = keys
        with torch.no_grad():
            scores = adapter.score(cand.reshape(-1, w + 1)).reshape(b, -1)
        valid = torch.isfinite(torch.gather(gain, 1, keys))
        scores = scores.masked_fill(~valid, float("inf"))
        accepted = scores <= adapter.threshold
        # The first accepted key in gradient order, else the lowest score.
        first = torch.where(accepted.any(dim=1), accepted.float().argmax(dim=1), scores.argmin(dim=1))
        refs = cand[rows, first]
        return build_batch(
            adapter,
            x,
            refs,
            steps=np.ones(b, dtype=np.int64),
            started=started,
            method=f"{method}+top-position",
            params={"attribution": method, "target": "-log p(next key)", "verified_keys": VERIFIED_KEYS},
        )

    return explain


def attribution_explainers(adapter: DeepLogAdapter) -> dict[str, Explainer]:
    """The attribution baselines by name (``<method>+top-position``); none without deepaid-baselines."""
    try:
        from deepaid_baselines.attribution import attribute
    except ImportError:
        return {}
    return {
        f"{method}+top-position": attribution_explainer(adapter, method, attribute) for method in ATTRIBUTION_BASELINES
    }
