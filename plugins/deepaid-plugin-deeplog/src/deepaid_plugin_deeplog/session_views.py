"""Plain-text view of a session interpretation: its flags and its edits with their templates."""

from __future__ import annotations

from deepaid_plugin_deeplog.edits import SessionEdit, SessionInterpretation


def format_session(result: SessionInterpretation, max_template: int = 60) -> str:
    """One line per edit (kind, position, old -> new key and template, flags it fixes, log-likelihood), how
    many single edits would do (``alternatives``) with the next best, then the verdict."""

    def short(text: str | None) -> str:
        return "" if text is None else text if len(text) <= max_template else text[: max_template - 3] + "..."

    def what(e: SessionEdit) -> str:
        old = "" if e.old_key is None else f"key {e.old_key} ({short(e.old_template)})"
        new = "" if e.new_key is None else f"key {e.new_key} ({short(e.new_template)})"
        return {"replace": f"{old} -> {new}", "insert": f"insert {new} before it", "delete": f"delete {old}"}[e.kind]

    def ll(e: SessionEdit) -> str:
        return "" if e.log_likelihood is None else f"; log-likelihood {e.log_likelihood:.2f}"

    lines = [f"session of {len(result.session)} keys; flagged positions {list(result.flagged)}"]
    for e in result.edits:
        lines.append(f"  {e.kind:7s} at {e.position:3d}: {what(e)}; fixes {list(e.fixes)}{ll(e)}")
    if result.alternatives:
        lines.append(
            "  the fix is unique"
            if result.alternatives == 1
            else f"  one of {result.alternatives} single edits that make every window normal; next best:"
        )
        for e in result.next_best:
            lines.append(f"    {e.kind:7s} at {e.position:3d}: {what(e)}{ll(e)}")
    verdict = (
        "every window normal after the edits"
        if result.flipped
        else f"still flagged at {list(result.remaining)} (edited positions)"
    )
    lines.append(f"  -> {verdict}")
    return "\n".join(lines)
