"""The sentence of a GL-GV edge record: the login, its score against the threshold, and the nearest login the
detector accepts (with the hops between them). Only the record's numbers and names are written."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from deepaid_sdk.explain.sentences import readable


def _edge(edge: Sequence[Any] | None, kinds: Sequence[Any] | None = None, extra: str = "") -> str:
    if not edge:
        return "the login"
    notes = [f"{kinds[0]} to {kinds[1]}"] if kinds else []
    notes += [extra] if extra else []
    return f"{edge[0]} -> {edge[1]}" + (f" ({', '.join(notes)})" if notes else "")


def edge_sentence(record: Mapping[str, Any]) -> str:
    """An edge record in words: unseen node, no alert, explained (found or not)."""
    d = record.get("details") or {}
    login = f"Login {_edge(d.get('anomaly_edge'), d.get('anomaly_kinds'))}"
    if d.get("status") == "unseen-node":
        nodes = list(d.get("unseen_nodes") or [])
        verb = "is" if len(nodes) == 1 else "are"
        return (
            f"Login {_edge(d.get('anomaly_edge'))}: {', '.join(map(str, nodes))} {verb} not in the training graph, "
            "so the detector has no embedding to score it; a new account or host is new by itself."
        )
    score, threshold = readable(record.get("score")), readable(record.get("threshold"))
    if not record.get("alert"):
        return f"{login} scores {score}, not above the threshold {threshold}: no alert."
    head = f"{login} scores {score}, over the threshold {threshold}"
    if not d.get("found"):
        levels = d.get("levels_searched")
        within = f" within {readable(levels)} hops" if levels else ""
        return head + f"; no login the detector accepts was found{within}."
    hops = d.get("hops")
    away = f", {readable(hops)} hop{'' if hops == 1 else 's'} away" if hops is not None else ""
    ref_score = readable(record.get("reference_score"))
    if record.get("flipped"):
        reference = _edge(d.get("reference_edge"), d.get("reference_kinds"), f"score {ref_score}")
        return head + f"; the nearest login the detector accepts is {reference}{away}."
    reference = _edge(d.get("reference_edge"), d.get("reference_kinds"))
    return head + f"; the nearest login found, {reference}{away}, still scores {ref_score}."
