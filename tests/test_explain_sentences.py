"""A sentence per record of `deepaid explain`, grounded: every number comes from the record or the normal ranges."""

import json
import re

import numpy as np
import pytest

from deepaid_sdk.explain.job import explain_file
from deepaid_sdk.explain.sentences import NUMBER, NormalStats, clip_text, feature_sentence, readable, ungrounded

FACTORY = "deepaid_sdk.bench.synthetic:mlp_autoencoder"


def _significant(token):
    """Significant digits of a number token below 1,000 (``-0.0574`` has 3)."""
    return len(re.sub(r"e.*$", "", token).lstrip("-").replace(".", "").lstrip("0")) or 1


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(
    "value, text",
    [
        (7774.53369140625, "7,775"),
        (1.225772500038147, "1.23"),
        (-0.8828162550926208, "-0.883"),
        (31.0, "31"),
        (0.0, "0"),
        (1234567.0, "1,234,567"),
        (0.000123456, "0.000123"),
        (2.5e10, "2.5e+10"),
        (None, "none"),
    ],
)
def test_numbers_are_written_to_be_read(value, text):
    assert readable(value) == text


def test_clipped_text_never_splits_a_word():
    text = "Receiving block blk_123 src: /10.0.0.1:50010 dest: /10.0.0.2:50010 of size 67108864"
    clipped = clip_text(text, 40)
    assert clipped.endswith("...") and len(clipped) <= 43
    assert all(word in text.split() for word in clipped[:-3].split())


@pytest.fixture(scope="module")
def explained(explain_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("sentences") / "explained.jsonl"
    summary = explain_files.explain(out, percentile=95, k=2)
    manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
    return summary, _records(out), NormalStats.from_dict(manifest["normal_stats"])


def test_every_record_has_a_grounded_sentence(explained, explain_files):
    summary, records, normal = explained
    assert summary.normal_ranges and "0.5%" in summary.normal_ranges and "256 rows" in summary.normal_ranges
    lo, hi = np.percentile(explain_files.normal, [0.5, 99.5], axis=0)
    np.testing.assert_allclose(normal.low, lo)
    np.testing.assert_allclose(normal.high, hi)
    assert any(r["alert"] for r in records) and any(not r["alert"] for r in records)
    for r in records:
        assert isinstance(r["sentence"], str) and r["sentence"]
        assert ungrounded(r["sentence"], r, normal) == [], r["sentence"]
        assert all(_significant(n) <= 3 for n in NUMBER.findall(r["sentence"]) if "," not in n), r["sentence"]
        if r["alert"] and r["changed"]:
            first = r["changed"][0]
            low, high = normal.range_of(first)
            assert (
                f"{first} is {readable(r['anomaly_values'][0])} (normal {readable(low)} to {readable(high)})"
                in (r["sentence"])
            )
            assert f"accepts {readable(r['reference_values'][0])}" in r["sentence"]
        if not r["alert"]:
            assert r["sentence"].startswith("No alert")


def test_a_wrong_number_in_a_sentence_is_caught(explained):
    _, records, normal = explained
    record = next(r for r in records if r["alert"] and r["changed"])
    sentence = record["sentence"]
    alert_value = readable(record["anomaly_values"][0])
    assert alert_value in sentence
    wrong = readable(record["anomaly_values"][0] * 1.5 + 7)
    assert ungrounded(sentence.replace(alert_value, wrong, 1), record, normal) == [wrong]
    # a normal range that is not the job's is caught too
    low, _ = normal.range_of(record["changed"][0])
    shifted = NormalStats(normal.columns, [x - 10 for x in normal.low], normal.high, normal.rows)
    assert readable(low) in ungrounded(sentence, record, shifted)


def test_without_normal_rows_the_sentence_has_no_ranges(explain_files):
    record = {
        "score": 4812.0,
        "threshold": 1200.0,
        "reference_score": 90.5,
        "alert": True,
        "flipped": True,
        "changed": ["bytes_out", "syn_count"],
        "anomaly_values": [4812.4, 31.0],
        "reference_values": [1130.2, 3.0],
    }
    text = feature_sentence(record)
    assert text == (
        "Score 4,812 is over the threshold 1,200; the reference scores 90.5. bytes_out is 4,812; the detector "
        "accepts 1,130. syn_count 31 -> 3."
    )
    normal = NormalStats(["bytes_out", "syn_count"], [90.0, 0.0], [1200.0, 4.0], 100)
    assert "bytes_out is 4,812 (normal 90 to 1,200)" in feature_sentence(record, normal)
    assert "syn_count 31 (normal up to 4) -> 3." in feature_sentence(record, normal)
    assert ungrounded(feature_sentence(record, normal), record, normal) == []


def test_a_resumed_job_quotes_the_normal_ranges_its_manifest_kept(explain_files, tmp_path, explained):
    class Stop:
        fingerprint = {"field": "stop"}

        def __init__(self, at):
            self.calls, self.at = 0, at

        def __call__(self, records):
            self.calls += 1
            if self.calls == self.at:
                raise KeyboardInterrupt
            return {}

    out = tmp_path / "o.jsonl"
    kw = (
        dict(normal=explain_files.normal_csv, percentile=95, k=2, id_column="event", batch_size=16, quiet=True)
        | explain_files.model_options()
    )
    with pytest.raises(KeyboardInterrupt):
        explain_file("tabular", FACTORY, explain_files.csv, out, fields=[Stop(2)], **kw)
    manifest_path = out.with_name(out.name + ".manifest.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["normal_stats"]["high"] = [h + 1000 for h in manifest["normal_stats"]["high"]]
    manifest_path.write_text(json.dumps(manifest))
    explain_file("tabular", FACTORY, explain_files.csv, out, fields=[Stop(0)], resume=True, **kw)
    resumed = _records(out)
    _, first_run, _ = explained
    assert [r["sentence"] for r in resumed[:16]] == [r["sentence"] for r in first_run[:16]]
    later = [r for r in resumed[16:] if r["alert"] and r["changed"]]
    assert later and all(" to 1,0" in r["sentence"] for r in later)  # the kept (here: edited) highs
