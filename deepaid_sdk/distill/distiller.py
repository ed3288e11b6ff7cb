"""The Distiller: analyst verdicts on explained alerts become rules that label, triage and suppress.

``Distiller(states).fit(interpretations, verdicts)`` turns each explanation into a state path
(``deepaid_sdk.distill.states``) and attaches its verdict; ``predict`` labels new alerts with the
verdict of the rules they match (``deepaid_sdk.distill.rules``), or ``unknown`` when none is close;
verdicts in ``suppress`` (``false_positive`` by default) mark alerts suppressed, never removed.
Rules are data: ``to_text()`` for a person, ``to_dict()``/``from_dict()`` (strict JSON) to review,
edit and ship them.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Sequence

import attrs
import numpy as np

from deepaid_sdk.distill.alerts import as_alerts
from deepaid_sdk.distill.calibration import verdict_thresholds
from deepaid_sdk.distill.rules import MODES, Encoded, Rule, encode, fsm_scores, path_scores, state_similarity
from deepaid_sdk.distill.states import State, StateExtractor
from deepaid_sdk.progress import progress

FORMAT = "deepaid-distill/1"
UNKNOWN = "unknown"
"""The verdict of an alert no rule matches confidently enough: a pattern the analyst has not labelled."""
FALSE_POSITIVE = "false_positive"
"""The verdict suppressed by default (alerts are marked, never deleted); its alerts feed ``retraining_set``."""
#: Default least confidence for a verdict; below it an alert is ``unknown``.
DEFAULT_MIN_SCORE = 0.6
DEFAULT_MODE = "path"
#: Similarity values per chunk of alerts in ``predict`` (about 32 MB of float64).
_BLOCK = 4_000_000


@attrs.frozen(eq=False)
class Predictions:
    """Per alert: verdict (or ``unknown``), confidence in [0, 1], matched rule, suppressed flag."""

    verdicts: tuple[str, ...]
    confidence: np.ndarray
    rule: np.ndarray
    """Index of the matched rule in ``Distiller.rules`` (-1: none, the verdict is ``unknown``)."""
    rule_text: tuple[str | None, ...]
    suppressed: np.ndarray
    """The verdict is one of the suppressed verdicts (``false_positive``): mark, never drop."""

    def __len__(self) -> int:
        return len(self.verdicts)

    def records(self) -> list[dict[str, Any]]:
        """One JSON-safe dict per alert: ``verdict``, ``confidence``, ``rule`` (text or None), ``suppressed``."""
        return [
            {"verdict": v, "confidence": round(float(c), 6), "rule": r, "suppressed": bool(s)}
            for v, c, r, s in zip(self.verdicts, self.confidence, self.rule_text, self.suppressed)
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: the per-alert ``records()``, how many alerts are suppressed, and how many there are."""
        return {"predictions": self.records(), "suppressed": int(self.suppressed.sum()), "alerts": len(self)}


def _check_verdicts(verdicts: Any, n: int) -> tuple[str, ...]:
    if isinstance(verdicts, (str, bytes)) or not isinstance(verdicts, Sequence):
        raise TypeError(f"verdicts: expected a sequence of {n} labels (str); got {type(verdicts).__name__}")
    if len(verdicts) != n:
        raise ValueError(f"verdicts: expected one label per interpretation ({n}); got {len(verdicts)}")
    bad = [(i, v) for i, v in enumerate(verdicts) if not isinstance(v, str) or not v or v == UNKNOWN]
    if bad:
        raise ValueError(f"verdicts: expected non-empty labels other than {UNKNOWN!r}; got {bad[:5]}")
    return tuple(verdicts)


def _thresholds(value: Any, where: str = "thresholds") -> tuple[tuple[str, float], ...]:
    """Per-verdict thresholds (a dict or pairs) as sorted ``(verdict, value in [0, 1])`` pairs."""
    pairs = list(value.items()) if isinstance(value, Mapping) else list(value)
    out = []
    for item in pairs:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError(f"{where}: expected {{verdict: least confidence}}; got {item!r}")
        number = float(item[1])
        if not 0.0 <= number <= 1.0:
            raise ValueError(f"{where}[{item[0]!r}]: expected a value in [0, 1]; got {item[1]!r}")
        out.append((item[0], number))
    return tuple(sorted(out))


def _rule_tuple(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    """``tuple`` as a typed converter (mypy cannot solve the type variable of ``converter=tuple``)."""
    return tuple(rules)


def _str_tuple(values: Iterable[str]) -> tuple[str, ...]:
    """``tuple`` as a typed converter, for verdicts."""
    return tuple(values)


@attrs.frozen
class Distiller:
    """Rules over states of explanations; ``fit`` returns a new Distiller holding the rules."""

    # isinstance with an abstract class is fine; mypy flags any abstract class passed as type[T] (python/mypy#4717).
    states: StateExtractor = attrs.field(eq=False, validator=attrs.validators.instance_of(StateExtractor))  # type: ignore[type-abstract]
    rules: tuple[Rule, ...] = attrs.field(default=(), converter=_rule_tuple)
    mode: str = attrs.field(default=DEFAULT_MODE, validator=attrs.validators.in_(MODES))
    min_score: float = attrs.field(default=DEFAULT_MIN_SCORE, converter=float)
    suppress: tuple[str, ...] = attrs.field(default=(FALSE_POSITIVE,), converter=_str_tuple)
    calibrate: bool = attrs.field(default=False, converter=bool)
    """``fit`` sets a threshold per verdict from the labelled alerts (``deepaid_sdk.distill.calibration``):
    a pattern unlike every labelled one is ``unknown`` even where it is near some rule."""
    thresholds: tuple[tuple[str, float], ...] = attrs.field(default=(), converter=_thresholds)
    """``(verdict, least confidence)`` pairs set by a calibrated ``fit`` (at least ``min_score`` each)."""

    @calibrate.validator
    def _check_calibrate(self, _attr: Any, value: bool) -> None:
        if value and self.mode != "path":
            raise ValueError(f"calibrate: the thresholds are path scores; use mode='path' (got mode={self.mode!r})")

    @min_score.validator
    def _check_min_score(self, _attr: Any, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"min_score: expected a value in [0, 1]; got {value}")

    # -- learning -------------------------------------------------------------------------
    def fit(self, interpretations: Any, verdicts: Sequence[str]) -> Distiller:
        """Rules from explained alerts and one analyst verdict each; added to the rules already held."""
        alerts = as_alerts(interpretations)
        labels = _check_verdicts(verdicts, len(alerts))
        paths = self.states.states(alerts)
        support: dict[tuple[str, tuple[State, ...]], int] = {(r.verdict, r.states): r.support for r in self.rules}
        for verdict, path in zip(labels, paths):
            support[(verdict, path)] = support.get((verdict, path), 0) + 1
        rules = tuple(Rule(v, p, n) for (v, p), n in support.items())
        if not self.calibrate:
            return attrs.evolve(self, rules=rules)
        found = verdict_thresholds(rules, paths, labels, self.min_score, self.states.level_span)
        return attrs.evolve(self, rules=rules, thresholds=tuple({**dict(self.thresholds), **found}.items()))

    @property
    def verdicts(self) -> tuple[str, ...]:
        """The verdicts the rules can give, in first-seen order."""
        return tuple(dict.fromkeys(r.verdict for r in self.rules))

    # -- using ----------------------------------------------------------------------------
    def predict(self, interpretations: Any) -> Predictions:
        """Verdict, confidence and matched rule per alert; ``unknown`` when no rule scores ``min_score``."""
        alerts = as_alerts(interpretations)
        n = len(alerts)
        if not self.rules:
            raise ValueError("rules: this Distiller has no rules yet; call fit(interpretations, verdicts) first")
        paths = self.states.states(alerts)
        vocab: dict[State, int] = {}
        rule_enc = encode([r.states for r in self.rules], vocab)  # rule states take ids 0..S-1
        rule_states = list(vocab)
        alert_enc = encode(paths, vocab)
        sim = state_similarity(list(vocab), rule_states, self.states.level_span)  # [all states, rule states]
        best, confidence = np.zeros(n, dtype=np.int64), np.zeros(n)
        # chunks bound the [rows, La, R, Lr] similarity block; a row's result does not depend on them
        size = max(1, _BLOCK // max(1, alert_enc.index.shape[1] * rule_enc.index.size))
        for start in progress(range(0, n, size), desc="distill: matching", unit="chunk", leave=False):
            rows = slice(start, start + size)
            part = Encoded(alert_enc.index[rows], alert_enc.weight[rows])
            best[rows], confidence[rows] = self._match(part, rule_enc, sim)
        known = confidence >= self.min_score
        if self.thresholds:
            least = dict(self.thresholds)
            known &= confidence >= np.array([least.get(self.rules[b].verdict, self.min_score) for b in best.tolist()])
        verdict = tuple(self.rules[b].verdict if k else UNKNOWN for b, k in zip(best.tolist(), known.tolist()))
        rule = np.where(known, best, -1)
        text = tuple(f"#{r} {self.rules[r].verdict}: {self.rules[r].text()}" if r >= 0 else None for r in rule.tolist())
        suppressed = np.array([v in self.suppress for v in verdict], dtype=bool)
        return Predictions(verdict, np.clip(confidence, 0.0, 1.0), rule, text, suppressed)

    def _match(self, alerts: Encoded, rule_enc: Encoded, sim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Best rule and confidence of each alert of one chunk."""
        n = alerts.index.shape[0]
        per_rule = path_scores(alerts, rule_enc, sim)  # [n, R]
        exact = _exact(alerts.index, rule_enc.index)  # [n, R]
        support = np.array([r.support for r in self.rules], dtype=np.float64)
        rank = per_rule + 1e-6 * exact + 1e-9 * support / support.max()
        if self.mode == "path":
            best = rank.argmax(axis=1)
            return best, per_rule[np.arange(n), best]
        verdicts = self.verdicts
        rule_verdict = np.array([verdicts.index(r.verdict) for r in self.rules])
        machine = fsm_scores(alerts, rule_enc, rule_verdict, verdicts, sim)  # [n, V]
        chosen = machine.argmax(axis=1)
        # an alert that repeats a rule's path exactly takes that rule's verdict
        has_exact = exact.any(axis=1)
        chosen = np.where(has_exact, rule_verdict[rank.argmax(axis=1)], chosen)
        confidence = np.where(has_exact, 1.0, machine[np.arange(n), chosen])
        in_machine = rule_verdict[None, :] == chosen[:, None]
        return np.where(in_machine, rank, -np.inf).argmax(axis=1), confidence

    def triage(self, interpretations: Any) -> Predictions:
        """``predict`` for an alert queue: suppressed alerts stay in the result, flagged."""
        return self.predict(interpretations)

    def annotate(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``records`` (explain output) with ``verdict``, ``confidence``, ``rule``, ``suppressed`` added;
        none dropped."""
        records = list(records)
        triage = self.triage(records)
        return [{**dict(rec), **extra} for rec, extra in zip(records, triage.records())]

    # -- as data --------------------------------------------------------------------------
    def to_text(self) -> str:
        """The rules for a person: per verdict, each state path with its support."""
        lines = [
            f"Distilled rules ({FORMAT}): {len(self.rules)} rules, {len(self.verdicts)} verdicts; "
            f"states: {self.states.name}; matching: {self.mode}; below confidence {self.min_score:g}: "
            f"{UNKNOWN}; suppressed verdicts: {', '.join(self.suppress) or 'none'}"
        ]
        if self.thresholds:
            lines.append(
                "calibrated least confidence per verdict: " + ", ".join(f"{v} {t:.3g}" for v, t in self.thresholds)
            )
        for verdict in self.verdicts:
            rules = [(i, r) for i, r in enumerate(self.rules) if r.verdict == verdict]
            total = sum(r.support for _, r in rules)
            flag = " [suppressed]" if verdict in self.suppress else ""
            lines.append(f"{verdict}{flag}: {len(rules)} rules from {total} alerts")
            for i, rule in sorted(rules, key=lambda item: -item[1].support):
                lines.append(f"  #{i} (x{rule.support}) {rule.text()}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON dict: format, matching settings, the state extractor (name, params) and the rules."""
        return {
            "format": FORMAT,
            "mode": self.mode,
            "min_score": self.min_score,
            "suppress": list(self.suppress),
            "states": self.states.to_dict(),
            "rules": [r.to_dict() for r in self.rules],
            "calibrate": self.calibrate,
            "thresholds": dict(self.thresholds),
        }

    def to_json(self, indent: int | None = 1) -> str:
        """``to_dict()`` as strict JSON text, which ``from_json`` reads back."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, states: StateExtractor | None = None) -> Distiller:
        """Rebuild from ``to_dict()``; the state extractor is found by name in the registry unless given."""
        if not isinstance(data, Mapping):
            raise TypeError(f"data: expected a dict from Distiller.to_dict(); got {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise ValueError(f"data.format: expected {FORMAT!r}; got {data.get('format')!r}")
        rules = data.get("rules")
        if not isinstance(rules, list):
            raise ValueError(f"data.rules: expected a list of rules; got {rules!r}")
        if states is None:
            spec = data.get("states")
            if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
                raise ValueError(f"data.states: expected {{'name': str, 'params': dict}}; got {spec!r}")
            from deepaid_sdk.registry import registry

            states = registry().get("distill_states", spec["name"]).factory(**dict(spec.get("params") or {}))
        suppress = data.get("suppress", [FALSE_POSITIVE])
        if not isinstance(suppress, list) or not all(isinstance(s, str) for s in suppress):
            raise ValueError(f"data.suppress: expected a list of verdicts; got {suppress!r}")
        return cls(
            states=states,
            rules=tuple(Rule.from_dict(r, f"data.rules[{i}]") for i, r in enumerate(rules)),
            mode=data.get("mode", DEFAULT_MODE),
            min_score=data.get("min_score", DEFAULT_MIN_SCORE),
            suppress=tuple(suppress),
            calibrate=bool(data.get("calibrate", False)),
            thresholds=_thresholds(data.get("thresholds") or {}, "data.thresholds"),
        )

    @classmethod
    def from_json(cls, text: str, *, states: StateExtractor | None = None) -> Distiller:
        """Rebuild from ``to_json()`` text (see ``from_dict``)."""
        return cls.from_dict(json.loads(text), states=states)


def _exact(a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``[n, R]`` whether an alert's padded path equals a rule's exactly."""
    width = max(a.shape[1], r.shape[1])
    a = np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=-1)
    r = np.pad(r, ((0, 0), (0, width - r.shape[1])), constant_values=-1)
    return (a[:, None, :] == r[None, :, :]).all(axis=2)
