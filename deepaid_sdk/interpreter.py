"""Interpreters: an adapter, a search, constraints and a distance wired together.

Presets registered under a name (``tabular``, ``deeplog``...) build one with domain defaults;
``create(name, model=..., **options)`` looks the preset up in the registry.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import attrs
import numpy as np
import torch

from deepaid_sdk.checks import as_tensor, check_positive_int, table_columns
from deepaid_sdk.adapters import ModelAdapter
from deepaid_sdk.constraints import Constraint
from deepaid_sdk.distances import Distance
from deepaid_sdk.registry import Registry, registry
from deepaid_sdk.results import Interpretation, InterpretationBatch
from deepaid_sdk.search import ReferenceSearch, build_batch


@attrs.define(eq=False)
class Interpreter:
    """Explains alerts of one detector: ``interpret(x)`` or ``interpret_batch(X)``."""

    adapter: ModelAdapter
    search: ReferenceSearch
    constraints: tuple[Constraint, ...] = attrs.field(converter=tuple, default=())
    distance: Distance | None = None
    name: str = "custom"

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.adapter, ModelAdapter):
            raise TypeError(f"adapter: expected a ModelAdapter; got {type(self.adapter).__name__}")
        if not isinstance(self.search, ReferenceSearch):
            raise TypeError(f"search: expected a ReferenceSearch; got {type(self.search).__name__}")

    def interpret(self, x: Any) -> Interpretation:
        """Explain one sample (no batch dimension); the adapter converts it, so domain inputs work too."""
        if isinstance(x, (torch.Tensor, np.ndarray)):
            t = as_tensor(x, "x")
            shape = self.adapter.sample_shape
            if shape is not None and tuple(t.shape) != tuple(shape):
                hint = " (use interpret_batch for a batch)" if t.ndim == len(shape) + 1 else ""
                raise ValueError(f"x: expected one sample of shape {list(shape)}; got {list(t.shape)}{hint}")
            batch: Any = t[None]
        else:
            batch = [x]
        return self.interpret_batch(batch)[0]

    def interpret_batch(self, X: Any) -> InterpretationBatch:
        """Explain every row of ``X``; rows the detector already accepts come back unchanged and flipped.

        A pandas DataFrame or pyarrow Table is accepted; its column names become the result's
        ``feature_names``.
        """
        columns = table_columns(X)
        result = self._interpret_batch(X)
        if columns is not None and result.anomalies.shape[-1] == len(columns):
            result = attrs.evolve(result, feature_names=columns)
        return result

    def _interpret_batch(self, X: Any) -> InterpretationBatch:
        x = self.adapter.prepare(X, "X")
        started = time.perf_counter()
        with torch.no_grad():
            normal = self.adapter.is_normal(x)
        if not bool(normal.any()):
            return self.search.search(self.adapter, x, self.constraints, self.distance)
        normal_idx = normal.nonzero().flatten()
        parts = [(normal_idx.cpu().numpy(), build_batch(
            self.adapter, x[normal_idx], x[normal_idx], steps=np.zeros(len(normal_idx), dtype=np.int64),
            started=started, method=self.search.name, params=self.search.describe()))]
        if not bool(normal.all()):
            alert_idx = (~normal).nonzero().flatten()
            parts.append((alert_idx.cpu().numpy(),
                          self.search.search(self.adapter, x[alert_idx], self.constraints, self.distance)))
        return InterpretationBatch.merge(parts, x.shape[0])

    def describe(self) -> dict[str, Any]:
        return {"interpreter": self.name, **self.adapter.describe(), **self.search.describe(),
                "constraints": [c.name for c in self.constraints],
                "distance": getattr(self.distance, "name", None)}


def build_constraints(
    *,
    k: int | None = None,
    lam: float | None = None,
    eps: float | None = None,
    box: tuple[Any, Any] | None = None,
    integer: Sequence[int] | None = None,
    frozen: Sequence[int] | None = None,
    onehot: Sequence[Sequence[int]] | None = None,
    extra: Sequence[Any] = (),
    reg: Registry | None = None,
) -> list[Constraint]:
    """The usual constraint set from keyword options, each built through the registry by name."""
    reg = reg or registry()
    out: list[Constraint] = [reg.build("constraints", "fidelity", Constraint, **({} if eps is None else {"eps": eps}))]
    out.append(reg.build("constraints", "stability", Constraint, **({} if lam is None else {"lam": lam})))
    if k is not None:
        out.append(reg.build("constraints", "conciseness", Constraint, k=check_positive_int(k, "k")))
    if box is not None:
        if not (isinstance(box, (tuple, list)) and len(box) == 2):
            raise TypeError(f"box: expected a (low, high) pair; got {box!r}")
        out.append(reg.build("constraints", "box", Constraint, low=box[0], high=box[1]))
    if integer is not None:
        out.append(reg.build("constraints", "integer", Constraint, dims=integer))
    if frozen is not None:
        out.append(reg.build("constraints", "frozen", Constraint, dims=frozen))
    if onehot is not None:
        out.append(reg.build("constraints", "onehot", Constraint, groups=onehot))
    out.extend(reg.build("constraints", spec, Constraint) for spec in extra)
    return out


def check_k(k: int | None, width: int | None) -> int | None:
    """``k`` within ``[1, width]``; a clear error naming both otherwise."""
    if k is None:
        return None
    k = check_positive_int(k, "k")
    if width is not None and k > width:
        raise ValueError(f"k: expected at most the number of features ({width}); got {k}")
    return k


def gradient_interpreter(
    model: Any,
    *,
    threshold: float | None = None,
    adapter: str = "score",
    adapter_options: dict[str, Any] | None = None,
    k: int | None = None,
    lam: float | None = None,
    eps: float | None = None,
    box: tuple[Any, Any] | None = None,
    integer: Sequence[int] | None = None,
    frozen: Sequence[int] | None = None,
    onehot: Sequence[Sequence[int]] | None = None,
    constraints: Sequence[Any] = (),
    distance: Any = "l2",
    search: Any = "gradient",
    search_options: dict[str, Any] | None = None,
    sample_shape: Sequence[int] | None = None,
) -> Interpreter:
    """Generic preset: any ModelAdapter, or a score model/function, with the gradient search."""
    reg = registry()
    if isinstance(model, ModelAdapter):
        if threshold is not None:
            model.threshold = threshold
        model_adapter = model
    else:
        options = dict(adapter_options or {})
        if sample_shape is not None:
            options["sample_shape"] = sample_shape
        model_adapter = reg.build("adapters", adapter, ModelAdapter, model=model, threshold=threshold, **options)
    width = int(np.prod(model_adapter.sample_shape)) if model_adapter.sample_shape is not None else None
    return Interpreter(
        adapter=model_adapter,
        search=reg.build("searches", search, ReferenceSearch, **(search_options or {})),
        constraints=build_constraints(k=check_k(k, width), lam=lam, eps=eps, box=box, integer=integer,
                                      frozen=frozen, onehot=onehot, extra=constraints, reg=reg),
        distance=reg.build("distances", distance, Distance),
        name="gradient",
    )


def create(name: str, model: Any = None, **options: Any) -> Interpreter:
    """Build the interpreter preset ``name`` for ``model``; options go to the preset."""
    if not isinstance(name, str):
        raise TypeError(f"name: expected a preset name (str); got {type(name).__name__}")
    if model is None:
        raise ValueError(f"model: create({name!r}, model=...) needs the detector to explain")
    interpreter = registry().get("interpreters", name).factory(model=model, **options)
    if not isinstance(interpreter, Interpreter):
        raise TypeError(f"preset {name!r} returned {type(interpreter).__name__}, not an Interpreter")
    return interpreter
