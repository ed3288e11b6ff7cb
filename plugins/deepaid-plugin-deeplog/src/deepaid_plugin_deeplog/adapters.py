"""The DeepLog adapter: key sequences in, a top-g margin out.

A sample is a key sequence ``[W+1]`` (int64): the window of ``W`` keys followed by the next
key. The detector is any ``nn.Module`` mapping one-hot windows ``[B, W, C]`` (float) to next-key
logits ``[B, C]``. The score is the *top-g margin*: the g-th largest logit minus the next key's
logit. It is ``> 0`` exactly when the next key is outside the model's top-g guesses (DeepLog's
alert), so the threshold is 0 and an alert is ``score > 0``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from deepaid_sdk import ModelAdapter
from deepaid_sdk.model.adapters import model_device


def topg_margin(logits: Tensor, next_keys: Tensor, g: int) -> Tensor:
    """``[B]``: the g-th largest logit minus the next key's logit (> 0: next key not in the top g)."""
    gth = logits.topk(g, dim=1).values[:, g - 1]
    return gth - logits.gather(1, next_keys[:, None]).squeeze(1)


def _int_attr(model: nn.Module, value: Any, names: Sequence[str], arg: str) -> int:
    if value is None:
        for name in names:
            if isinstance(getattr(model, name, None), int):
                value = getattr(model, name)
                break
    if value is None:
        raise ValueError(f"{arg}: not given and the model has no integer attribute {' or '.join(names)}; pass {arg}=")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{arg}: expected a positive integer; got {value!r}")
    return int(value)


def _key_or_none(value: Any, name: str, num_keys: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < num_keys:
        raise ValueError(f"{name}: expected a key id in [0, {num_keys}); got {value!r}")
    return int(value)


class DeepLogAdapter(ModelAdapter):
    """A next-log-key model (LSTM or any module ``[B, W, C] -> [B, C]``) judged by top-g.

    :param model: the detector; ``num_keys``/``window`` default to its attributes of those names.
    :param num_candidates: g, how many top guesses count as normal (DeepLog's default is 9).
    :param templates: optional key id -> log template, shown with interpretations.
    :param pad_key: key that left-pads short sessions: never changed, never introduced.
    :param unknown_key: key of lines that matched no template: never introduced by a reference.
    """

    input_dtype = torch.int64

    def __init__(
        self,
        model: nn.Module,
        *,
        num_candidates: int = 9,
        num_keys: int | None = None,
        window: int | None = None,
        templates: Mapping[int, str] | None = None,
        pad_key: int | None = None,
        unknown_key: int | None = None,
        eps: float = 0.0,
        device: Any = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"model: expected an nn.Module mapping one-hot windows [B, W, C] to logits [B, C]; "
                f"got {type(model).__name__}"
            )
        self.model = model
        super().__init__(0.0, eps=eps, device=model_device(model, device))
        self.num_keys = _int_attr(model, num_keys, ("num_keys", "num_classes"), "num_keys")
        self.window = _int_attr(model, window, ("window",), "window")
        if isinstance(num_candidates, bool) or not isinstance(num_candidates, (int, np.integer)):
            raise TypeError(f"num_candidates: expected an integer; got {type(num_candidates).__name__}")
        if not 1 <= num_candidates < self.num_keys:
            raise ValueError(
                f"num_candidates: expected g in [1, {self.num_keys - 1}] (fewer than the "
                f"{self.num_keys} keys); got {num_candidates}"
            )
        self.num_candidates = int(num_candidates)
        self.sample_shape = (self.window + 1,)
        # JSON object keys are strings ("3"): whole-number strings are read as key ids.
        self.templates = (
            {int(k) if isinstance(k, str) and k.isdigit() else k: v for k, v in dict(templates).items()}
            if templates is not None
            else None
        )
        if self.templates is not None:
            bad = [k for k in self.templates if not (isinstance(k, (int, np.integer)) and 0 <= k < self.num_keys)]
            if bad:
                raise ValueError(f"templates: keys must be key ids in [0, {self.num_keys}); got {bad[:5]}")
        self.pad_key = _key_or_none(pad_key, "pad_key", self.num_keys)
        self.unknown_key = _key_or_none(unknown_key, "unknown_key", self.num_keys)
        self._check_model()

    # -- the model ---------------------------------------------------------------------------
    def _check_model(self) -> None:
        """One probe forward, so a model with the wrong output shape fails at construction."""
        probe = torch.zeros(2, self.window, self.num_keys, device=self.device)
        probe[:, :, 0] = 1.0
        with torch.no_grad():
            self.logits(probe)

    def one_hot(self, keys: Tensor) -> Tensor:
        """Float one-hot ``[..., C]`` of int key ids."""
        return F.one_hot(keys, self.num_keys).to(torch.float32)

    def logits(self, onehot: Tensor) -> Tensor:
        """The model's next-key logits ``[B, C]`` for one-hot windows ``[B, W, C]``, shape-checked."""
        out = self.model(onehot)
        expected = (onehot.shape[0], self.num_keys)
        if not isinstance(out, Tensor) or tuple(out.shape) != expected:
            got = list(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"model: expected {self.num_keys} next-key logits per window, shape "
                f"[{expected[0]}, {self.num_keys}]; got {got}"
            )
        return out

    def margin_onehot(self, onehot: Tensor, next_keys: Tensor) -> Tensor:
        """Differentiable score ``[B]`` of one-hot windows ``[B, W, C]`` and next keys ``[B]``."""
        return topg_margin(self.logits(onehot), next_keys, self.num_candidates)

    def score(self, x: Tensor) -> Tensor:
        """Top-g margin ``[B]`` of key sequences ``[B, W+1]`` (> 0: alert)."""
        return self.margin_onehot(self.one_hot(x[:, : self.window]), x[:, self.window])

    def calibrate(self, normal: Any, percentile: float = 99.0) -> float:
        """Not used: DeepLog's threshold is the top-g rule (set ``num_candidates`` instead)."""
        raise ValueError(
            "calibrate: a DeepLog detector alerts when the next key is outside its top-g guesses; "
            "the threshold is fixed at 0 -- choose num_candidates (g) instead"
        )

    # -- input checks --------------------------------------------------------------------------
    def check_keys(self, t: Tensor, name: str) -> None:
        """Key ids must lie in ``[0, C)``; the error names the rows and the bad values."""
        bad = (t < 0) | (t >= self.num_keys)
        if bool(bad.any()):
            rows = bad.reshape(t.shape[0], -1).any(dim=1).nonzero().flatten().tolist() if t.ndim else [0]
            values = torch.unique(t[bad]).tolist()
            raise ValueError(
                f"{name}: key ids must lie in [0, {self.num_keys}); got {values[:10]} "
                f"(rows {rows[:10]}{'...' if len(rows) > 10 else ''})"
            )

    def prepare(self, x: Any, name: str = "x") -> Tensor:
        """Integer key sequences ``[B, W+1]`` on the adapter's device; a clear error otherwise."""
        t = _as_int_keys(x, name)
        if t.ndim != 2 or t.shape[0] == 0 or t.shape[1] != self.window + 1:
            raise ValueError(
                f"{name}: expected key sequences [B, {self.window + 1}] (a window of {self.window} "
                f"keys followed by the next key); got shape {list(t.shape)}"
            )
        self.check_keys(t, name)
        return t.to(device=self.device)

    def prepare_parts(self, windows: Any, next_keys: Any) -> Tensor:
        """``windows [B, W]`` and ``next_keys [B]`` checked and joined into sequences ``[B, W+1]``."""
        w = _as_int_keys(windows, "windows")
        n = _as_int_keys(next_keys, "next_keys")
        if w.ndim != 2 or w.shape[0] == 0 or w.shape[1] != self.window:
            extra = ""
            if w.ndim == 2 and w.shape[1] != self.window:
                extra = f" (the model was built for windows of {self.window} keys)"
            raise ValueError(f"windows: expected key windows [B, {self.window}]; got shape {list(w.shape)}{extra}")
        if n.ndim != 1 or n.shape[0] != w.shape[0]:
            raise ValueError(f"next_keys: expected one next key per window, shape [{w.shape[0]}]; got {list(n.shape)}")
        self.check_keys(w, "windows")
        self.check_keys(n, "next_keys")
        return torch.cat([w, n[:, None]], dim=1).to(self.device)

    def template(self, key: int) -> str:
        """The template of ``key``, or ``key <id>`` when no map was given."""
        if self.templates is None:
            return f"key {key}"
        return self.templates.get(int(key), f"key {key}")

    def reserved(self) -> list[int]:
        """Keys a reference never introduces (padding and unknown)."""
        return [k for k in (self.pad_key, self.unknown_key) if k is not None]

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "num_candidates": self.num_candidates,
            "num_keys": self.num_keys,
            "window": self.window,
        }


def _as_int_keys(value: Any, name: str) -> Tensor:
    """``value`` as an int64 tensor; floats and bools are refused (key ids are integers)."""
    if isinstance(value, Tensor):
        t = value.detach()
    elif isinstance(value, (np.ndarray, list, tuple)):
        try:
            arr = np.asarray(value)
        except ValueError as exc:
            raise TypeError(f"{name}: expected an integer array of key ids; could not convert ({exc})") from None
        if arr.dtype == object:
            raise TypeError(f"{name}: expected an integer array of key ids; got ragged or mixed values")
        if arr.size == 0:
            arr = arr.astype(np.int64)
        t = torch.as_tensor(arr)
    else:
        raise TypeError(f"{name}: expected an integer numpy array or tensor of key ids; got {type(value).__name__}")
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        raise TypeError(f"{name}: expected integer key ids (int64); got dtype {t.dtype}")
    return t.to(torch.int64)
