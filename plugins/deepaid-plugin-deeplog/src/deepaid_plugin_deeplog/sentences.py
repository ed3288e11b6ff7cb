"""The sentence of a DeepLog session record: how many keys surprised the model, and the edits (with their log
templates) after which the detector accepts the session. Only the record's numbers are written."""

from __future__ import annotations

from typing import Any, Mapping

from deepaid_sdk.explain.sentences import clip_text, readable

#: Edits worded in a sentence (the record's ``changed`` lists them all).
WORDED_EDITS = 3


def _key(key: Any, template: Any) -> str:
    text = f"key {readable(key)}"
    return f"{text} '{clip_text(template)}'" if template else text


def edit_phrase(change: Mapping[str, Any]) -> str:
    """``replace key 5 'Receiving block <*>' at 12 with key 9 '...'`` (insert and delete alike)."""
    op, at = change.get("op"), readable(change.get("position"))
    old = _key(change.get("anomaly_key"), change.get("anomaly_template"))
    new = _key(change.get("reference_key"), change.get("reference_template"))
    if op == "insert":
        return f"insert {new} at {at}"
    if op == "delete":
        return f"delete {old} at {at}"
    return f"replace {old} at {at} with {new}"


def session_sentence(record: Mapping[str, Any]) -> str:
    """A session record in words (see the module docstring)."""
    details = record.get("details") or {}
    keys = details.get("keys")
    of = f" of {readable(keys)}" if keys is not None else ""
    if not record.get("alert"):
        return f"All{of} keys of the session were among the model's guesses: no alert."
    head = f"{readable(record.get('score'))}{of} keys were not among the model's guesses."
    changes = list(details.get("changes") or [])
    if not changes:
        return head + " No edit within the budget makes the session normal."
    edits = "; ".join(edit_phrase(c) for c in changes[:WORDED_EDITS])
    more = (
        f"; and {', '.join(map(str, (record.get('changed') or [])[WORDED_EDITS:]))}"
        if len(changes) > WORDED_EDITS
        else ""
    )
    if record.get("flipped"):
        tail = f" The detector accepts the session after: {edits}{more}."
        if (details.get("alternatives") or 0) > 1:
            tail += f" ({readable(details['alternatives'])} single edits would each do.)"
        return head + tail
    left = readable(record.get("reference_score"))
    return head + f" After {edits}{more}, {left} keys are still unexpected."
