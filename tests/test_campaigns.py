import numpy as np
import pyarrow as pa
import pytest

from deepaid_sdk.campaigns import group_campaigns
from deepaid_sdk.explain.sentences import NormalStats

STATS = NormalStats(["x", "y"], [0.0, 0.0], [2.0, 4.0])


def rec(i, changed, a, r):
    return {"id": i, "changed": changed, "anomaly_values": a, "reference_values": r}


def test_same_pattern_groups_whatever_the_order_of_changes():
    records = [
        rec("a", ["x", "y"], [10.0, 1.0], [0.0, 2.0]),
        rec("b", ["y", "x"], [1.5, 11.0], [2.0, 0.0]),
        rec("c", ["x"], [0.1], [0.0]),
        rec("d", [], [], []),
    ]
    campaigns = group_campaigns(records, STATS)
    assert [c.count for c in campaigns] == [2, 1, 1]
    first = campaigns[0]
    assert first.key == (("x", "up", "far"), ("y", "down", "slightly"))
    assert first.ids == ["a", "b"]
    assert first.description == "x far above its reference, y slightly below"
    assert campaigns[1].key == (("x", "up", "slightly"),)
    assert campaigns[2].description == "no change"


def test_spread_units_change_the_bucket():
    records = [rec("a", ["y"], [3.0], [0.0])]
    assert group_campaigns(records, STATS)[0].key == (("y", "up", "clearly"),)  # 3 / 4 spreads
    assert group_campaigns(records)[0].key == (("y", "up", "far"),)  # 3 units, no stats


def test_representative_is_nearest_the_median():
    records = [rec(i, ["x"], [v], [0.0]) for i, v in enumerate([5.0, 6.0, 9.0, 30.0, 7.0])]
    (campaign,) = group_campaigns(pa.Table.from_pylist(records), STATS)
    assert campaign.representative == 4  # median 7
    assert sorted(campaign.indices.tolist()) == [0, 1, 2, 3, 4]


def test_sequence_records_group_by_edit_names():
    # DeepLog-like: values are event keys (None for inserts/deletes); names not in the normal stats
    records = [
        rec(1, ["delete@3"], [None], [None]),
        rec(2, ["delete@3"], [None], [None]),
        rec(3, ["replace@1"], [5.0], [7.0]),
    ]
    campaigns = group_campaigns(records, STATS)
    assert campaigns[0].key == (("delete@3", "changed", ""),)
    assert campaigns[0].ids == [1, 2]
    assert campaigns[1].key == (("replace@1", "changed", ""),)
    assert campaigns[1].description == "replace@1 changed"


def test_grouping_is_batch_invariant():
    rng = np.random.default_rng(1)
    n = 300
    changed = [sorted(rng.choice(["x", "y"], rng.integers(1, 3), replace=False).tolist()) for _ in range(n)]
    records = [rec(i, c, rng.normal(size=len(c)).tolist(), [0.0] * len(c)) for i, c in enumerate(changed)]
    whole = {c.key: set(c.ids) for c in group_campaigns(records, STATS)}
    parts: dict = {}
    for part in (records[:100], records[100:]):
        for c in group_campaigns(part, STATS):
            parts.setdefault(c.key, set()).update(c.ids)
    assert whole == parts


def test_empty_and_bad_input():
    assert group_campaigns([]) == []
    with pytest.raises(TypeError):
        group_campaigns(42)


def test_a_real_explain_job_groups_every_alert(explain_files, tmp_path):
    import json

    out = tmp_path / "explained.jsonl"
    explain_files.explain(out, percentile=95, k=2)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
    stats = NormalStats.from_dict(manifest["normal_stats"])
    campaigns = group_campaigns(records, stats)
    assert sum(c.count for c in campaigns) == len(records)
    assert [c.count for c in campaigns] == sorted((c.count for c in campaigns), reverse=True)
    for c in campaigns:
        assert c.representative in c.indices.tolist()
        for i in c.indices.tolist():
            assert sorted(records[i]["changed"]) == [f for f, _, _ in c.key]
        assert all(d in ("up", "down") for _, d, _ in c.key)
