"""Distiller states of log-key alerts: each edit of the explanation with its key templates.

A window explanation replaces a key at a position (the next key, or one in the window); a state
names the key that happened and the key that was expected there. A session explanation (``deepaid
explain deeplog`` on sessions) also inserts a missing key or deletes an extra one. ``EDIT_STATES``
maps an edit's ``op`` to the function that turns it into states.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from deepaid_sdk.distill.alerts import Alert
from deepaid_sdk.distill.states import State, StateExtractor


def _key(key: Any, template: Any) -> str:
    return f"key {key}" + (f" '{template}'" if template else "")


def replace_states(change: Mapping[str, Any], where: str) -> list[State]:
    """A replaced key: ``<where> key a 'template'`` / ``where key b 'template' was expected``."""
    return [
        State(
            f"{where} {_key(change.get('anomaly_key'), change.get('anomaly_template'))}",
            f"where {_key(change.get('reference_key'), change.get('reference_template'))} was expected",
        )
    ]


def insert_states(change: Mapping[str, Any], where: str) -> list[State]:
    """A key the session lacks: ``<where> missing key b 'template'``."""
    return [State(f"{where} missing", _key(change.get("reference_key"), change.get("reference_template")))]


def delete_states(change: Mapping[str, Any], where: str) -> list[State]:
    """A key the session should not hold: ``<where> extra key a 'template'``."""
    return [State(f"{where} extra", _key(change.get("anomaly_key"), change.get("anomaly_template")))]


#: Edit op -> states of one edit; ``where`` is "unexpected next", "unexpected window" or "in session".
EDIT_STATES: dict[str, Callable[[Mapping[str, Any], str], list[State]]] = {
    "replace": replace_states,
    "insert": insert_states,
    "delete": delete_states,
}
#: ``details["verdict"]`` -> where the edits happened.
WHERE: Mapping[Any, str] = {"next key": "unexpected next", "session": "in session"}


class EditStates(StateExtractor):
    """States of the edits of each explanation (``details["changes"]``, or the changed keys)."""

    name = "deeplog"

    def params(self) -> dict[str, Any]:
        return {}

    def _states(self, alerts: list[Alert]) -> list[tuple[State, ...]]:
        out = []
        for alert in alerts:  # result assembly over JSON details
            d = alert.details
            where = WHERE.get(d.get("verdict"), "unexpected window")
            changes = d.get("changes")
            if changes is None:  # records without details: the changed positions hold the keys
                changes = [
                    {
                        "position": p,
                        "anomaly_key": None if a is None else int(a),
                        "reference_key": None if r is None else int(r),
                    }
                    for p, a, r in zip(alert.changed, alert.anomaly_values, alert.reference_values)
                ]
            states: list[State] = []
            for change in changes:
                op = change.get("op", "replace")
                if op not in EDIT_STATES:
                    raise ValueError(f"details.changes: no states for edit op {op!r}; known: {sorted(EDIT_STATES)}")
                states += EDIT_STATES[op](change, where)
            out.append(tuple(states))
        return out
