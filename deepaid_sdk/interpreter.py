"""Interpreters: an adapter, a search, constraints and a distance wired together.

Presets registered under a name (``tabular``, ``deeplog``...) build one with domain defaults;
``deepaid_sdk.presets.create(name, model=..., **options)`` looks the preset up in the registry.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Sequence

import attrs
import numpy as np
import torch

from deepaid_sdk.checks import as_tensor, table_columns, table_select
from deepaid_sdk.constraints import Constraint
from deepaid_sdk.distances import Distance
from deepaid_sdk.model.adapters import ModelAdapter
from deepaid_sdk.results import Interpretation, InterpretationBatch
from deepaid_sdk.schema import FeatureSchema, warn_extra
from deepaid_sdk.search import ReferenceSearch, build_batch


@attrs.frozen
class TableView:
    """How an interpreter shows its results as text: feature names, a map back to original units, and
    whether values are categories (log keys, ids: a change is shown ``a -> b``)."""

    feature_names: Sequence[str] | None = None
    inverse: Callable[[np.ndarray], np.ndarray] | None = None
    categorical: bool = False


def _constraint_tuple(constraints: Iterable[Constraint]) -> tuple[Constraint, ...]:
    """``tuple`` as a typed converter (mypy cannot solve the type variable of ``converter=tuple``)."""
    return tuple(constraints)


@attrs.define(eq=False)
class Interpreter:
    """Explains alerts of one detector: ``interpret(x)`` or ``interpret_batch(X)``."""

    adapter: ModelAdapter
    search: ReferenceSearch
    constraints: tuple[Constraint, ...] = attrs.field(converter=_constraint_tuple, default=())
    distance: Distance | None = None
    name: str = "custom"
    schema: FeatureSchema | None = None
    """The detector's feature names in the model's order: a table's columns are matched to it by name."""

    def __attrs_post_init__(self) -> None:
        if self.schema is not None and not isinstance(self.schema, FeatureSchema):
            self.schema = FeatureSchema.of(self.schema, "schema")
        if not isinstance(self.adapter, ModelAdapter):
            raise TypeError(f"adapter: expected a ModelAdapter; got {type(self.adapter).__name__}")
        if not isinstance(self.search, ReferenceSearch):
            raise TypeError(f"search: expected a ReferenceSearch; got {type(self.search).__name__}")

    def interpret(self, x: Any, *, strict_columns: bool = False) -> Interpretation:
        """Explain one sample (no batch dimension); the adapter converts it, so domain inputs work too.

        A pandas Series (labels are column names) or a one-row DataFrame / Arrow table is matched to the
        schema by name, as in ``interpret_batch``.
        """
        module = type(x).__module__ or ""
        if module.startswith("pandas") and hasattr(x, "to_frame") and not hasattr(x, "columns"):
            x = x.to_frame().T  # a Series: one row whose labels are the column names
        if table_columns(x) is not None:
            rows = x.num_rows if hasattr(x, "num_rows") else len(x)
            if rows != 1:
                raise ValueError(f"x: expected one row; got a table of {rows} rows (use interpret_batch)")
            return self._interpret_table(x, "x", strict_columns, stacklevel=4)[0]
        if isinstance(x, (torch.Tensor, np.ndarray)):
            t = as_tensor(x, "x")
            shape = self.adapter.sample_shape
            if shape is not None and tuple(t.shape) != tuple(shape):
                hint = " (use interpret_batch for a batch)" if t.ndim == len(shape) + 1 else ""
                raise ValueError(f"x: expected one sample of shape {list(shape)}; got {list(t.shape)}{hint}")
            width = self.adapter.input_width
            if width is not None and t.ndim >= 1 and t.shape[-1] != width:
                raise ValueError(
                    f"x: expected {width} features (the width of the model's first layer) in the last "
                    f"axis; got {t.shape[-1]} (shape {list(t.shape)})"
                )
            batch: Any = t[None]
        else:
            batch = [x]
        return self.interpret_batch(batch)[0]

    def interpret_batch(self, X: Any, *, strict_columns: bool = False) -> InterpretationBatch:
        """Explain every row of ``X``; rows the detector already accepts come back unchanged and flipped.

        A pandas DataFrame or pyarrow Table is accepted; its column names become the result's
        ``feature_names``. Where the interpreter knows its ``schema``, the columns are matched to it by
        name and reordered: a missing column is a ValueError naming it, an extra one is ignored with an
        ``ExtraColumnsWarning`` naming it (a ValueError with ``strict_columns=True``). A DataFrame's index
        is kept as the result's ``index`` (``to_pandas`` uses it).
        """
        if table_columns(X) is not None:
            return self._interpret_table(X, "X", strict_columns, stacklevel=4)
        result = self._interpret_batch(X)
        if self.schema is not None and result.feature_names is None and result.anomalies.shape[-1] == len(self.schema):
            result = attrs.evolve(result, feature_names=self.schema.names)
        return result

    def _interpret_table(self, X: Any, argument: str, strict: bool, stacklevel: int) -> InterpretationBatch:
        """A DataFrame or Arrow table: columns matched to the schema by name, names and index kept."""
        columns = table_columns(X) or []
        if self.schema is not None:
            warn_extra(self.schema.check(columns, argument, strict=strict), argument, self.schema, stacklevel)
            X = table_select(X, self.schema.names)
            columns = list(self.schema.names)
        result = self._interpret_batch(X)
        if result.anomalies.shape[-1] == len(columns):
            result = attrs.evolve(result, feature_names=columns)
        index = getattr(X, "index", None) if (type(X).__module__ or "").startswith("pandas") else None
        if index is not None and len(index) == len(result):
            result = attrs.evolve(result, index=index)
        return result

    def _interpret_batch(self, X: Any) -> InterpretationBatch:
        x = self.adapter.prepare(X, "X")
        self.adapter.check_model_device()
        check_budget(self.constraints, x)
        started = time.perf_counter()
        with torch.no_grad():
            scores = self.adapter.score(x)
        check_scores(scores, x.shape[0])
        normal = self.adapter.is_normal(x, scores)
        if not bool(normal.any()):
            return self.search.search(self.adapter, x, self.constraints, self.distance)
        normal_idx = normal.nonzero().flatten()
        parts = [
            (
                normal_idx.cpu().numpy(),
                build_batch(
                    self.adapter,
                    x[normal_idx],
                    x[normal_idx],
                    steps=np.zeros(len(normal_idx), dtype=np.int64),
                    started=started,
                    method=self.search.name,
                    params=self.search.describe(),
                    scores=scores[normal_idx],
                    reference_scores=scores[normal_idx],
                ),
            )
        ]
        if not bool(normal.all()):
            alert_idx = (~normal).nonzero().flatten()
            parts.append(
                (
                    alert_idx.cpu().numpy(),
                    self.search.search(self.adapter, x[alert_idx], self.constraints, self.distance),
                )
            )
        return InterpretationBatch.merge(parts, x.shape[0])

    def table_view(self, result: Interpretation | InterpretationBatch) -> TableView:
        """How ``table`` shows ``result``; presets override it to name features in their own terms."""
        return TableView(None if self.schema is None else self.schema.names)

    def table(self, result: Interpretation | InterpretationBatch, *, limit: int | None = None) -> str:
        """Text table of one result, or of each of the first ``limit`` results of a batch, as this
        interpreter names and shows them (``table_view``)."""
        view = self.table_view(result)
        if isinstance(result, InterpretationBatch):
            return result.table(view.feature_names, view.inverse, categorical=view.categorical, limit=limit)
        return result.table(view.feature_names, view.inverse, categorical=view.categorical)

    def describe(self) -> dict[str, Any]:
        """What this interpreter was built with, for reproducibility.

        The adapter's and the search's recorded parameters, the schema's feature names, and the names of the
        constraints and of the distance.
        """
        return {
            "interpreter": self.name,
            **self.adapter.describe(),
            **self.search.describe(),
            "schema": None if self.schema is None else list(self.schema.names),
            "constraints": [c.name for c in self.constraints],
            "distance": getattr(self.distance, "name", None),
        }


def check_budget(constraints: Sequence[Constraint], x: torch.Tensor) -> None:
    """No change budget (``k``) larger than the number of features of one sample."""
    width = int(x[0].numel())
    for c in constraints:
        k = getattr(c, "max_changes", None)
        if isinstance(k, int) and k > width:
            raise ValueError(f"k: expected at most the number of features ({width}); got {k}")


def check_scores(scores: torch.Tensor, n: int) -> None:
    """The model's scores of the rows to explain: one finite number per row."""
    if not isinstance(scores, torch.Tensor) or tuple(scores.shape) != (n,):
        got = list(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(f"model: expected one score per row, shape [{n}]; got {got}")
    if scores.is_floating_point() and not bool(torch.isfinite(scores).all()):
        bad = (~torch.isfinite(scores)).nonzero().flatten().tolist()
        raise ValueError(
            f"model: returned NaN or inf scores for rows {bad[:10]}{'...' if len(bad) > 10 else ''} "
            "of X; an explanation of such a score means nothing (check the model and its inputs)"
        )


#: Names that lived here before the presets and the constraint set got modules of their own.
_MOVED = {
    "build_constraints": "deepaid_sdk.constraint_specs",
    "user_constraints": "deepaid_sdk.constraint_specs",
    "check_k": "deepaid_sdk.constraint_specs",
    "gradient_interpreter": "deepaid_sdk.gradient_preset",
    "create": "deepaid_sdk.presets",
    "preset_factory": "deepaid_sdk.presets",
    "preset_options": "deepaid_sdk.presets",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        import importlib
        import warnings

        warnings.warn(
            f"deepaid_sdk.interpreter.{name} moved to {_MOVED[name]}; import it from there (the old "
            "path goes in deepaid-sdk 0.3)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
