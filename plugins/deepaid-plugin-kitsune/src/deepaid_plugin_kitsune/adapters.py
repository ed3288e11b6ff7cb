"""The model adapter for KitNET: scores, threshold, reconstruction, in raw or KitNET-scaled units.

AfterImage features span ten orders of magnitude (a jitter of milliseconds next to a radius
of 1e10 bytes^2), and the core search moves every feature by steps of one size. So besides
raw units the adapter offers ``space="scaled"``: inputs in KitNET's own min-max units
(training range -> [0, 1]), where one step means the same for every feature. ``to_raw`` and
``to_space`` convert between the two.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from deepaid_plugin_kitsune.kitnet import KitNET, _span
from deepaid_plugin_kitsune.names import N_FEATURES, feature_groups
from deepaid_sdk.model.adapters import ModelAdapter, model_device

SPACES = ("raw", "scaled")
#: Rows per KitNET call when no gradient is taken: the core scores up to 65,536 variants at once, and
#: KitNET's padded ensemble holds ``[rows, groups, max_group]`` several times over (about 250 MB there).
SCORE_ROWS = 4096


class KitNETAdapter(ModelAdapter):
    """KitNET as a ``ModelAdapter``: ``score`` is the output RMSE ``[B]``; ``reconstruct`` the ensemble's.

    :param threshold: alert threshold; default the one KitNET learnt from its training scores.
    :param space: ``"raw"`` (feature units) or ``"scaled"`` (KitNET's min-max units).
    """

    def __init__(
        self, model: KitNET, threshold: float | None = None, *, eps: float = 0.0, space: str = "raw", device: Any = None
    ) -> None:
        if not isinstance(model, KitNET):
            raise TypeError(f"model: expected a KitNET; got {type(model).__name__}")
        if space not in SPACES:
            raise ValueError(f"space: expected one of {SPACES}; got {space!r}")
        if threshold is None and bool(torch.isfinite(model.threshold)):
            threshold = float(model.threshold)
        self.model = model.eval()
        self.space = space
        super().__init__(threshold, eps=eps, device=model_device(model, device))
        self.sample_shape = (model.width,)
        #: AfterImage's 23 groups (a statistic over its five decay windows) for 115 features, else none.
        self.feature_groups = tuple(feature_groups()) if model.width == N_FEATURES else None

    def _affine(self, like: Tensor) -> tuple[Tensor, Tensor]:
        low = self.model.x_min.to(like.device, like.dtype)
        return low, _span(low, self.model.x_max.to(like.device, like.dtype))

    def to_raw(self, x: Tensor) -> Tensor:
        """Inputs of this adapter's space in raw feature units."""
        if self.space == "raw":
            return x
        low, span = self._affine(x)
        return x * span + low

    def to_space(self, raw: Tensor) -> Tensor:
        """Raw feature rows in this adapter's space."""
        if self.space == "raw":
            return raw
        low, span = self._affine(raw)
        return (raw - low) / span

    def inverse(self, x: np.ndarray) -> np.ndarray:
        """numpy rows of this space in raw units (the ``inverse=`` of tables and plots)."""
        with torch.no_grad():
            return self.to_raw(torch.as_tensor(np.asarray(x), dtype=torch.float64).to(self.device)).cpu().numpy()

    def score(self, x: Tensor) -> Tensor:
        """KitNET's score ``[B]``; without a gradient, ``SCORE_ROWS`` rows at a time (each row on its own)."""
        if torch.is_grad_enabled() or x.shape[0] <= SCORE_ROWS:
            return self.model(self.to_raw(x))
        return torch.cat([self.model(self.to_raw(part)) for part in x.split(SCORE_ROWS)])

    def reconstruct(self, x: Tensor) -> Tensor:
        """The ensemble's reconstruction of every feature, in this adapter's space."""
        return self.to_space(self.model.reconstruct(self.to_raw(x)))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "space": self.space, "groups": len(self.model.groups)}
