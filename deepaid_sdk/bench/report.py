"""What a benchmark returns: figures as data, with a text table as its view."""

from __future__ import annotations

from typing import Any

import attrs

from deepaid_sdk.results.views import format_table


@attrs.frozen
class BenchmarkReport:
    """Figures of one ``deepaid bench`` run."""

    name: str
    columns: tuple[str, ...]
    """Column names of ``rows`` (first column: the method)."""
    rows: tuple[tuple[Any, ...], ...]
    setup: dict[str, Any] = attrs.field(factory=dict)
    """Machine, data, detector, K, seeds: what a reader needs to rerun it."""
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "setup": self.setup,
            "results": [dict(zip(self.columns, row)) for row in self.rows],
            "notes": list(self.notes),
        }

    def text(self) -> str:
        setup = ", ".join(f"{k}={v}" for k, v in self.setup.items())
        body = format_table(self.columns, self.rows, title=f"deepaid bench {self.name}: {setup}")
        return "\n".join([body, *self.notes])
