"""The blackbox budget bench: the IsolationForest case, its rows and its note (on a few alerts)."""

from __future__ import annotations

from deepaid_sdk.bench import blackbox_budget
from deepaid_sdk.bench.reference_quality import COLUMNS


def test_forest_rows_measure_ours_beside_the_baseline_within_the_budget() -> None:
    rows = blackbox_budget.forest_rows(n=12, budgets=(4,))
    assert [r[5] for r in rows] == ["deepaid blackbox", "nearest_normal"]
    for row in rows:
        assert len(row) == len(COLUMNS)
        case, _, n, _, k, _, recall, precision, flip, changed, rate = row
        assert case == "iforest-c20-F3" and n == 12 and k == 4
        assert 0.0 <= recall <= 1.0 and 0.0 <= precision <= 1.0 and 0.0 <= flip <= 1.0 and rate > 0
        assert 0.0 < changed <= 4.0
    assert rows[1][9] == 4.0  # the baseline always spends its whole budget
    assert rows[0][9] < 4.0  # ours spends only what the target needs (3 planted)
    assert "K=4 deepaid blackbox: recall" in blackbox_budget.note(rows)
