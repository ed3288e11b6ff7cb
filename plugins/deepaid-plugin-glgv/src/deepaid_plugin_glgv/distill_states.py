"""Distiller states of login-graph alerts: kinds of the changed endpoint and hop distance.

From each explanation's ``details`` (written by the graph search): the kinds of the alert's
edge (``user -> host``), for each changed endpoint what kind it is and what kind replaced it,
and how many hops away the reference edge is.
"""

from __future__ import annotations

from typing import Any

from deepaid_sdk.distill.alerts import Alert
from deepaid_sdk.distill.states import State, StateExtractor

ENDS = ("source", "destination")


class EndpointStates(StateExtractor):
    """States: edge kinds, each changed endpoint (its kind -> the reference's), hop distance."""

    name = "glgv"

    def params(self) -> dict[str, Any]:
        return {}

    def _states(self, alerts: list[Alert]) -> list[tuple[State, ...]]:
        out = []
        for i, alert in enumerate(alerts):  # result assembly over JSON details
            d = alert.details
            if "anomaly_kinds" not in d or "reference_kinds" not in d:
                raise ValueError(
                    f"alerts[{i}].details: expected the graph search's details (anomaly_kinds, "
                    f"reference_kinds, hops); got keys {sorted(d)}"
                )
            kinds, ref_kinds = list(d["anomaly_kinds"]), list(d["reference_kinds"])
            states = [
                State("changed endpoint", f"{ENDS[int(p)]} {kinds[int(p)]} -> {ref_kinds[int(p)]}")
                for p in alert.changed
                if isinstance(p, int) and 0 <= p < 2
            ]
            states.append(State("edge kinds", f"{kinds[0]} -> {kinds[1]}"))
            hops = d.get("hops")
            states.append(
                State(
                    "hop distance",
                    "unreachable" if hops is None else f"{int(hops)} hops",
                    None if hops is None else int(hops),
                )
            )
            out.append(tuple(states))
        return out
