"""The ``kitsune`` interpreter preset: DeepAID's gradient search on KitNET, in KitNET's own units.

Users pass and get back raw AfterImage rows. Inside, the search runs on KitNET's min-max
scaled features (each feature's training range is [0, 1]), so one step size, one margin and
one distance weight fit all 115 features; the box keeps counts, sizes and spreads
non-negative and the pcc within [-1, 1]; the references are mapped back to raw units and
judged again by KitNET there.
"""

from __future__ import annotations

from typing import Any, Sequence

import attrs
import numpy as np
import torch

from deepaid_plugin_kitsune.adapters import KitNETAdapter
from deepaid_plugin_kitsune.kitnet import KitNET
from deepaid_plugin_kitsune.names import N_FEATURES, feature_bounds
from deepaid_plugin_kitsune.names import feature_names as afterimage_names
from deepaid_sdk.constraint_specs import build_constraints, check_k
from deepaid_sdk.distances import Distance
from deepaid_sdk.groups import FeatureGroups, GroupConcisenessConstraint
from deepaid_sdk.interpreter import Interpreter, TableView
from deepaid_sdk.preset_options import (
    CONSTRAINTS,
    DISTANCE,
    EPS,
    FEATURE_NAMES,
    LAM,
    SEED,
    THRESHOLD,
    K,
    Option,
    Preset,
)
from deepaid_sdk.registry import registry
from deepaid_sdk.results import Interpretation, InterpretationBatch
from deepaid_sdk.search import ReferenceSearch

#: Defaults, in scaled units (a feature's training range is 1) and as shares of the threshold.
DEFAULT_LR = 0.05
DEFAULT_STEPS = 300
DEFAULT_EPS_SHARE = 0.02
DEFAULT_LAM_SHARE = 0.01
#: Default budget: 10 groups (statistics over AfterImage's windows), or 10 features with budget="features".
DEFAULT_K = 10
BUDGETS = ("groups", "features")


@attrs.define(eq=False)
class KitsuneInterpreter(Interpreter):
    """Explains KitNET alerts given as raw feature rows; results are in raw units."""

    feature_names: tuple[str, ...] = ()
    """Names used by ``table`` (AfterImage names for 115 features)."""

    def interpret_batch(self, X: Any, *, strict_columns: bool = False) -> InterpretationBatch:
        """Explain every row of raw ``X`` (search in scaled units, results mapped back and re-judged)."""
        adapter = self.adapter
        if not isinstance(adapter, KitNETAdapter):
            raise TypeError(f"adapter: the kitsune interpreter needs a KitNETAdapter; got {type(adapter).__name__}")
        raw = adapter.prepare(X, "X")
        batch = super().interpret_batch(adapter.to_space(raw), strict_columns=strict_columns)
        return raw_batch(batch, raw, adapter)

    def table_view(self, result: Interpretation | InterpretationBatch) -> TableView:
        """Features named by ``feature_names`` (AfterImage names for 115 features)."""
        return TableView(self.feature_names or None)


def raw_batch(batch: InterpretationBatch, raw: torch.Tensor, adapter: KitNETAdapter) -> InterpretationBatch:
    """``batch`` found in ``adapter``'s space, with anomalies and references in raw units, re-scored raw."""
    anomalies = raw.detach().cpu().numpy()
    changed = batch.changed_mask()
    refs = np.where(changed, adapter.inverse(batch.references).astype(anomalies.dtype), anomalies)
    with torch.no_grad():
        ref_scores = adapter.model(torch.as_tensor(refs, device=adapter.device)).cpu().numpy()
    return attrs.evolve(
        batch,
        anomalies=anomalies,
        references=refs,
        reference_scores=ref_scores.astype(batch.reference_scores.dtype),
        flipped=ref_scores <= adapter.threshold,
        params={**batch.params, "space": adapter.space},
    )


def _scaled_box(box: Any, adapter: KitNETAdapter) -> tuple[np.ndarray, np.ndarray] | None:
    """Raw bounds -> scaled bounds; ``True``: AfterImage bounds (115 features) or none."""
    if box is None or box is False:
        return None
    if box is True:
        if adapter.model.width != N_FEATURES:
            return None
        low, high = feature_bounds()
    elif isinstance(box, (tuple, list)) and len(box) == 2:
        low = np.broadcast_to(np.asarray(box[0], dtype=np.float64), (adapter.model.width,))
        high = np.broadcast_to(np.asarray(box[1], dtype=np.float64), (adapter.model.width,))
    else:
        raise TypeError(f"box: expected True, False/None or a (low, high) pair in raw units; got {box!r}")
    x_min = adapter.model.x_min.double().cpu().numpy()
    span = adapter.model.x_max.double().cpu().numpy() - x_min
    span = np.where(span > 1e-12, span, 1.0)
    with np.errstate(invalid="ignore"):
        return (low - x_min) / span, (high - x_min) / span


def group_budget_constraint(k: int | None, adapter: KitNETAdapter, by_groups: bool) -> list[Any]:
    """The group budget of ``k`` groups over the adapter's feature groups (none for a feature budget)."""
    if not by_groups or k is None:
        return []
    k = check_k(k, base_width := adapter.model.width)
    assert k is not None and adapter.feature_groups is not None
    groups = FeatureGroups(adapter.feature_groups)
    if k > groups.n_groups:
        raise ValueError(
            f"k: expected at most the number of groups ({groups.n_groups} of {base_width} features); got {k}"
        )
    return [GroupConcisenessConstraint(k, groups)]


def kitsune_interpreter(
    model: KitNET | KitNETAdapter,
    *,
    threshold: float | None = None,
    k: int | None = DEFAULT_K,
    budget: str = "groups",
    lam: float | None = None,
    eps: float | None = None,
    box: Any = True,
    steps: int = DEFAULT_STEPS,
    lr: float = DEFAULT_LR,
    init_noise: float = 0.0,
    seed: int = 0,
    start: str | None = None,
    prune: bool | None = None,
    distance: Any = "l2",
    constraints: Sequence[Any] = (),
    feature_names: Sequence[str] | None = None,
) -> KitsuneInterpreter:
    """DeepAID on KitNET: at most ``k`` changed groups (or features), references KitNET judges normal.

    ``budget="groups"`` (default, with 115 AfterImage features): ``k`` counts groups, a statistic
    across its five decay windows (``HH_jit_weight``), as one cause; ``budget="features"`` counts
    features. ``k=None``: no budget, the shortest sufficient explanation (pruned). ``lam`` (distance
    weight) and ``eps`` (margin below the threshold) default to ``0.01 * threshold`` and
    ``0.02 * threshold``; ``lr`` is in scaled units (share of a feature's training range per step).
    ``box=True`` applies the AfterImage bounds. With a feature budget the search starts from the
    ensemble's reconstruction of the K most deviant features and keeps all K changes
    (``prune=False``): on KitNET a flood shows in several windows at once, and pruning to the
    fewest sufficient changes drops some of them. With a group budget (and with ``k=None``) it
    starts from both the reconstruction and the anomaly (``start="auto"``) and prunes the windows
    the reference does not need, keeping every strong cause. Where a budget cannot reach normal,
    the result says which size would (``needs 21 features in 5 groups``).
    """
    if isinstance(model, KitNETAdapter):
        base, threshold = model.model, model.threshold if threshold is None else threshold
    elif isinstance(model, KitNET):
        base = model
    else:
        raise TypeError(f"model: expected a KitNET or a KitNETAdapter; got {type(model).__name__}")
    if budget not in BUDGETS:
        raise ValueError(f"budget: expected one of {BUDGETS}; got {budget!r}")
    adapter = KitNETAdapter(base, threshold, space="scaled")
    by_groups = budget == "groups" and adapter.feature_groups is not None
    if start is None:
        start = "reconstruction" if k is not None and not by_groups else "auto"
    if prune is None:
        prune = k is None or by_groups
    t = adapter.threshold
    eps = DEFAULT_EPS_SHARE * t if eps is None else eps
    adapter.eps = float(eps)
    names = (
        tuple(feature_names)
        if feature_names is not None
        else (tuple(afterimage_names()) if base.width == N_FEATURES else ())
    )
    if names and len(names) != base.width:
        raise ValueError(f"feature_names: expected {base.width} names; got {len(names)}")
    reg = registry()
    search = reg.build(
        "searches",
        "gradient",
        ReferenceSearch,
        steps=steps,
        lr=lr,
        init_noise=init_noise,
        seed=seed,
        start=start,
        prune=prune,
    )
    return KitsuneInterpreter(
        adapter=adapter,
        search=search,
        constraints=build_constraints(
            k=None if by_groups else check_k(k, base.width),
            lam=DEFAULT_LAM_SHARE * t if lam is None else lam,
            eps=eps,
            box=_scaled_box(box, adapter),
            extra=[*constraints, *group_budget_constraint(k, adapter, by_groups)],
            reg=reg,
        ),
        distance=reg.build("distances", distance, Distance),
        name="kitsune",
        feature_names=names,
    )


#: The options ``create("kitsune", ...)`` takes (``deepaid plugins`` lists them).
KITSUNE_PRESET = Preset(
    kitsune_interpreter,
    (
        THRESHOLD,
        K.but(default=DEFAULT_K, doc="at most this many groups (or features, see budget) change; None: no budget"),
        Option("budget", "groups", "name", "what k counts: groups (a statistic over its decay windows) or features"),
        LAM,
        EPS,
        Option("box", True, "bool | [low, high]", "True: KitNET's min-max range; or bounds in raw units"),
        Option("steps", DEFAULT_STEPS, "int", "step budget of the gradient search"),
        Option("lr", DEFAULT_LR, "float", "step size of the gradient search"),
        Option("init_noise", 0.0, "float", "std of the seeded start noise (robustness)"),
        SEED,
        Option(
            "start",
            None,
            "name",
            "where the search starts (reconstruction, anomaly, both, auto); default: reconstruction for a "
            "feature budget, else auto",
        ),
        Option(
            "prune", None, "bool", "undo changes the reference does not need; default: with a group budget or k=None"
        ),
        DISTANCE,
        CONSTRAINTS,
        FEATURE_NAMES,
    ),
)
