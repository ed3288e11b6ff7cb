"""Plain-text view of a session interpretation: its flags and its edits with their templates."""

from __future__ import annotations

from deepaid_plugin_deeplog.edits import SessionInterpretation


def format_session(result: SessionInterpretation, max_template: int = 60) -> str:
    """One line per edit (kind, position, old -> new key and template, flags it fixes), then the verdict."""

    def short(text: str | None) -> str:
        return "" if text is None else text if len(text) <= max_template else text[: max_template - 3] + "..."

    lines = [f"session of {len(result.session)} keys; flagged positions {list(result.flagged)}"]
    for e in result.edits:
        old = "" if e.old_key is None else f"key {e.old_key} ({short(e.old_template)})"
        new = "" if e.new_key is None else f"key {e.new_key} ({short(e.new_template)})"
        what = {"replace": f"{old} -> {new}", "insert": f"insert {new} before it", "delete": f"delete {old}"}[e.kind]
        lines.append(f"  {e.kind:7s} at {e.position:3d}: {what}; fixes {list(e.fixes)}")
    verdict = (
        "every window normal after the edits"
        if result.flipped
        else f"still flagged at {list(result.remaining)} (edited positions)"
    )
    lines.append(f"  -> {verdict}")
    return "\n".join(lines)
