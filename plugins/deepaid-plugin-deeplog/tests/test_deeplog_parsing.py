"""Log parsing with drain3, session grouping, and the synthetic generator's ground truth."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from deepaid_plugin_deeplog.parsing import (
    HDFS_BLOCK_ID,
    PAD_KEY,
    UNKNOWN_KEY,
    LogKeyParser,
    group_sessions,
    parse_log_file,
)
from deepaid_plugin_deeplog.synthetic import (
    EVENTS,
    LINE_HEADER,
    NUM_NORMAL,
    generate_workflow_logs,
    normal_session,
)


@pytest.fixture(scope="module")
def deeplog_small_log():
    return generate_workflow_logs(150, anomaly_rate=0.3, seed=11)


def test_drain3_recovers_one_key_per_event(deeplog_small_log):
    log = deeplog_small_log
    parser = LogKeyParser(content_pattern=LINE_HEADER)
    keys = parser.fit_transform(log.lines)
    pairs = set(zip(log.line_events.tolist(), keys.tolist()))
    by_event = collections.defaultdict(set)
    by_key = collections.defaultdict(set)
    for ev, key in pairs:
        by_event[ev].add(key)
        by_key[key].add(ev)
    assert all(len(v) == 1 for v in by_event.values()), "an event was split over several templates"
    assert all(len(v) == 1 for v in by_key.values()), "two events were merged into one template"
    assert PAD_KEY not in by_key and UNKNOWN_KEY not in by_key
    templates = parser.templates
    assert templates[PAD_KEY] == "<pad>" and templates[UNKNOWN_KEY] == "<unknown>"
    assert parser.num_keys == max(templates) + 1
    assert "<BLK>" in templates[keys[0]]  # block ids are masked parameters


def test_unmatched_lines_get_the_unknown_key_with_a_counted_warning():
    parser = LogKeyParser()
    parser.fit_transform(["Receiving block blk_1 src: /10.0.0.1:50010", "Verification succeeded for blk_2"])
    lines = ["Verification succeeded for blk_77", "Something entirely new happened here", "another unseen line"]
    with pytest.warns(UserWarning, match="2 of 3 log lines matched no learned template"):
        keys = parser.transform(lines)
    assert keys.tolist()[1:] == [UNKNOWN_KEY, UNKNOWN_KEY]
    assert keys[0] not in (PAD_KEY, UNKNOWN_KEY)
    assert parser.unmatched == 2


def test_transform_before_fit_and_bad_inputs_are_errors():
    with pytest.raises(ValueError, match="no templates learned yet"):
        LogKeyParser().transform(["a line"])
    with pytest.raises(ValueError, match="lines: no log lines"):
        LogKeyParser().fit_transform([])
    with pytest.raises(TypeError, match="a single str"):
        LogKeyParser().fit_transform("one line")
    with pytest.raises(ValueError, match="named group"):
        LogKeyParser(content_pattern=r"^(.*)$")


def test_header_misses_are_counted_not_dropped():
    parser = LogKeyParser(content_pattern=LINE_HEADER)
    with pytest.warns(UserWarning, match="1 log lines did not match content_pattern"):
        keys = parser.fit_transform(["081109 203615 148 INFO dfs.DataNode: Reopen Block blk_1", "no header here"])
    assert len(keys) == 2 and parser.header_misses == 1


def test_empty_log_file_is_an_error(tmp_path):
    (tmp_path / "empty.log").write_text("")
    with pytest.raises(ValueError, match="is empty"):
        parse_log_file(tmp_path / "empty.log")
    (tmp_path / "blank.log").write_text("\n  \n\n")
    with pytest.raises(ValueError, match="is empty"):
        parse_log_file(tmp_path / "blank.log")
    with pytest.raises(ValueError, match="no log file"):
        parse_log_file(tmp_path / "missing.log")


def test_parse_log_file_groups_sessions(tmp_path, deeplog_small_log):
    log = deeplog_small_log
    path = log.write(tmp_path / "hdfs.log")
    with open(path, "a") as fh:
        fh.write("\n")  # a trailing blank line is counted, not parsed
    with pytest.warns(UserWarning, match="1 blank lines"):
        parsed = parse_log_file(path, LogKeyParser(content_pattern=LINE_HEADER))
    assert parsed.blank == 1 and parsed.unmatched == 0 and parsed.sessions.orphans == 0
    assert len(parsed.sessions) == len(log.block_ids)
    assert set(parsed.sessions.ids) == set(log.block_ids)


def test_group_sessions_by_block_id_with_interleaving_orphans_and_shared_lines():
    lines = ["open blk_1", "open blk_-2", "write blk_1", "copy blk_1 to blk_-2", "heartbeat", "close blk_-2"]
    keys = np.array([2, 2, 3, 4, 5, 6])
    with pytest.warns(UserWarning, match="1 of 6 log lines hold no session id"):
        s = group_sessions(lines, keys, HDFS_BLOCK_ID)
    assert s.ids == ("blk_1", "blk_-2") and s.orphans == 1
    assert s.keys[0].tolist() == [2, 3, 4] and s.keys[1].tolist() == [2, 4, 6]
    assert s.lines[1].tolist() == [1, 3, 5]
    with pytest.raises(ValueError, match="one key per line"):
        group_sessions(lines, keys[:3])


def test_synthetic_sessions_match_their_lines_and_planted_changes(deeplog_small_log):
    log = deeplog_small_log
    assert log.labels.sum() > 20 and (~log.labels).sum() > 80
    grouped = group_sessions(log.lines, log.line_events)
    index = grouped.index()
    for s, blk in enumerate(log.block_ids):
        np.testing.assert_array_equal(grouped.keys[index[blk]], log.session_events[s])
    assert {log.kinds[s] for s in np.flatnonzero(log.labels)} == {"insert", "substitute", "delete"}
    for s in np.flatnonzero(log.labels):
        kind, pos, ev, seq = log.kinds[s], log.positions[s], log.planted_events[s], log.session_events[s]
        if kind in ("insert", "substitute"):
            assert seq[pos] == ev
        else:
            assert ev < NUM_NORMAL  # only normal events are deleted
        assert pos in log.planted_positions(int(s)) or kind == "delete"
    normal = [log.session_events[s] for s in np.flatnonzero(~log.labels)]
    assert all(seq.max() < NUM_NORMAL for seq in normal)
    again = generate_workflow_logs(150, anomaly_rate=0.3, seed=11)
    assert again.lines == log.lines


def test_planted_positions_cover_equivalent_edits():
    rng = np.random.default_rng(0)
    seq = normal_session(rng)
    assert seq[0] == 0 and max(seq) < NUM_NORMAL
    # Build a log by hand: one deletion inside a run of three equal events.
    from deepaid_plugin_deeplog.synthetic import SyntheticLog

    events = np.array([0, 1, 1, 2, 5])  # ALLOC RECV RECV RESP STORED: one RECV of three deleted at 2
    log = SyntheticLog(
        lines=(),
        line_events=np.zeros(0, np.int64),
        block_ids=("b",),
        session_events=(events,),
        labels=np.array([True]),
        kinds=("delete",),
        positions=np.array([2]),
        planted_events=np.array([1]),
    )
    # Gaps 1, 2 and 3 give back the same sequence: events 0..3 sit beside one of them.
    assert log.planted_positions(0).tolist() == [0, 1, 2, 3]
    assert len(EVENTS) == NUM_NORMAL + 6


def test_a_line_that_is_not_text_is_a_type_error_naming_it():
    from deepaid_plugin_deeplog.parsing import LogKeyParser

    with pytest.raises(TypeError, match=r"lines\[1\]: expected a str; got NoneType: None"):
        LogKeyParser().fit_transform(["a line", None])
