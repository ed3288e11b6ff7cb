"""Whole-session interpretation: edits that make every window normal, needed edits only, batch = single."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import deepaid_sdk
from deepaid_plugin_deeplog import window_scores
from deepaid_plugin_deeplog.detection import detect, make_windows
from deepaid_plugin_deeplog.edits import SessionEdit, apply_edits, apply_edits_with_origin, undo_edits
from deepaid_plugin_deeplog.experiment import RESERVED_KEYS
from deepaid_plugin_deeplog.parsing import PAD_KEY
from deepaid_plugin_deeplog.session_bench import KINDS
from deepaid_plugin_deeplog.session_plants import EXPLAINED_BY, keep, plant_edit, plant_sessions, sessions_from_windows
from deepaid_sdk.testing import assert_records_close


def _create(ex, **options):
    return deepaid_sdk.create(
        "deeplog",
        model=ex.model,
        num_candidates=ex.config.num_candidates,
        templates=ex.templates,
        **RESERVED_KEYS,
        **options,
    )


def _flagged(adapter, sessions):
    """Flagged positions per session, from the plugin's own detection path (padded windows)."""
    win = make_windows(sessions, adapter.window, pad_key=PAD_KEY)
    flags = detect(adapter, win.windows, win.next_keys)
    return [win.position[(win.session == i) & flags].tolist() for i in range(len(sessions))]


@pytest.fixture(scope="session")
def deeplog_planted(deeplog_experiment):
    """Planted replace/insert/delete sessions that the small model flags."""
    ex = deeplog_experiment
    interp = _create(ex)
    sessions = sessions_from_windows(ex.test)
    flagged = _flagged(interp.adapter, sessions)
    normal = [s for s, f, lab in zip(sessions, flagged, ex.test_labels) if not f and not lab]
    keys = np.asarray([k for k in range(ex.num_keys) if k not in RESERVED_KEYS.values()])
    planted = plant_sessions(normal * 3, ("replace", "insert", "delete"), keys, seed=5)
    hit = [bool(f) for f in _flagged(interp.adapter, list(planted.sessions))]
    return keep(planted, hit)


@pytest.fixture(scope="session")
def deeplog_session_batch(deeplog_experiment, deeplog_planted):
    return _create(deeplog_experiment).interpret_sessions(list(deeplog_planted.sessions), k=3)


@pytest.fixture(scope="session")
def deeplog_double_batch(deeplog_experiment, deeplog_planted):
    """Planted sessions given a second replace more than a window away from the first plant, interpreted."""
    ex = deeplog_experiment
    w = ex.config.window
    keys = np.asarray([k for k in range(ex.num_keys) if k not in RESERVED_KEYS.values()])
    rng = np.random.default_rng(11)
    doubles = []
    for seq, truth in zip(deeplog_planted.sessions, deeplog_planted.truth):
        far = [p for p in range(len(seq)) if min(abs(p - q) for q in truth) > w + 1]
        if len(seq) >= 2 * w + 4 and far:
            p = int(rng.choice(far))
            out = seq.copy()
            out[p] = int(rng.choice(keys[keys != seq[p]]))
            doubles.append(out)
    return _create(ex).interpret_sessions(doubles, k=3)


def test_edited_sessions_are_normal_and_match_their_edits(deeplog_experiment, deeplog_planted, deeplog_session_batch):
    batch, adapter = deeplog_session_batch, _create(deeplog_experiment).adapter
    assert len(deeplog_planted) >= 40 and len(batch) == len(deeplog_planted)
    originals = [np.asarray(s) for s in deeplog_planted.sessions]
    # Flags are the model's own, recomputed by the detection path.
    assert [list(r.flagged) for r in batch] == _flagged(adapter, originals)
    recheck = _flagged(adapter, [r.edited for r in batch])
    for r, seq, again in zip(batch, originals, recheck):
        np.testing.assert_array_equal(r.session, seq)
        np.testing.assert_array_equal(r.edited, apply_edits(seq, r.edits))
        assert list(r.remaining) == again
        assert 1 <= len(r.edits) <= 3
    assert batch.flip_rate >= 0.95


def test_every_reported_edit_is_needed(deeplog_experiment, deeplog_session_batch, deeplog_double_batch):
    adapter = _create(deeplog_experiment).adapter
    results = [r for r in [*deeplog_session_batch, *deeplog_double_batch] if r.flipped]
    single = [r for r in results if len(r.edits) == 1]
    multi = [r for r in deeplog_double_batch if r.flipped and len(r.edits) > 1]
    # Measured on this seeded case: 155 + 59 flipped sessions, 176 with one edit, 38 doubles with two.
    assert len(results) >= 200 and len(single) >= 150 and len(multi) >= 30
    assert not any(_flagged(adapter, [apply_edits(r.session, r.edits) for r in results]))  # all edits: normal
    jobs = [(r, j) for r in results for j in range(len(r.edits))]
    assert len(jobs) >= len(results) + len(multi)
    undone = [apply_edits(r.session, r.edits[:j] + r.edits[j + 1 :]) for r, j in jobs]
    assert all(_flagged(adapter, undone))  # undoing any one edit leaves a flagged window
    assert all(r.edits[j].fixes and set(r.edits[j].fixes) <= set(r.flagged) for r, j in jobs)
    assert all(r.edits[0].fixes == r.flagged for r in single)  # a lone edit fixes every flag
    for r in multi:  # plants a window apart: each edit fixes flags of its own, together all of them
        fixes = [set(e.fixes) for e in r.edits]
        assert set.union(*fixes) == set(r.flagged) and sum(map(len, fixes)) == len(r.flagged)


def test_planted_edits_are_found(deeplog_planted, deeplog_session_batch):
    position = kind = 0
    for r, truth, planted in zip(deeplog_session_batch, deeplog_planted.truth, deeplog_planted.kinds):
        main = max(r.edits, key=lambda e: len(e.fixes))
        position += main.position in truth
        kind += main.kind == EXPLAINED_BY[planted]
    n = len(deeplog_session_batch)
    assert position / n >= 0.9
    assert kind / n >= 0.7  # the small test model often cannot tell replace from insert/delete


def test_results_carry_templates_and_strict_json(deeplog_experiment, deeplog_session_batch):
    ex = deeplog_experiment
    edits = [e for r in deeplog_session_batch for e in r.edits]
    replaces, deletes = [e for e in edits if e.kind == "replace"], [e for e in edits if e.kind == "delete"]
    assert len(replaces) >= 30 and len(deletes) >= 30  # measured: 66 and 89
    for e in replaces:  # both keys, each with its template
        assert e.old_template == ex.templates[e.old_key] and e.new_template == ex.templates[e.new_key]
        assert e.new_key not in RESERVED_KEYS.values() and e.new_key != e.old_key
    for e in deletes:  # only the old key
        assert e.old_template == ex.templates[e.old_key] and e.new_key is None and e.new_template is None
    blob = json.loads(json.dumps(deeplog_session_batch.to_dict(), allow_nan=False))
    assert blob["results"][0]["edits"][0]["kind"] in ("replace", "insert", "delete")
    assert blob["params"]["k"] == 3


def test_batch_and_chunk_size_do_not_change_a_result(deeplog_experiment, deeplog_planted, monkeypatch):
    interp = _create(deeplog_experiment)
    rows = list(deeplog_planted.sessions[:6])
    together = interp.interpret_sessions(rows, k=2)
    monkeypatch.setattr(window_scores, "CHUNK", 7)
    for i, row in enumerate(rows):
        alone = interp.interpret_sessions([row], k=2)[0]
        assert_records_close((alone.edits, alone.remaining), (together[i].edits, together[i].remaining))


def test_batch_does_not_change_the_alternatives_or_the_runners_up(deeplog_experiment, deeplog_planted):
    interp = _create(deeplog_experiment)
    rows = list(deeplog_planted.sessions[:8])
    together = interp.interpret_sessions(rows, k=1)
    assert sum(r.alternatives for r in together) >= 8
    for i in (0, 3, 7):
        alone = interp.interpret_sessions([rows[i]], k=1)[0]
        assert alone.alternatives == together[i].alternatives
        assert [(e.kind, e.position, e.new_key) for e in alone.next_best] == [
            (e.kind, e.position, e.new_key) for e in together[i].next_best
        ]
        assert [e.log_likelihood for e in alone.next_best] == pytest.approx(
            [e.log_likelihood for e in together[i].next_best]
        )


def test_the_likelihood_rule_agrees_with_the_exhaustive_oracle(deeplog_experiment, deeplog_planted):
    from deepaid_plugin_deeplog.session_oracle import oracle

    interp = _create(deeplog_experiment)
    rows = [s for s, kind in zip(deeplog_planted.sessions, deeplog_planted.kinds) if kind != "replace"][:4]
    rows += [s for s, kind in zip(deeplog_planted.sessions, deeplog_planted.kinds) if kind == "replace"][:4]
    ours = interp.interpret_sessions(rows, k=1, rule="likelihood")
    best = oracle(interp.adapter, rows)
    assert sum(o.edit is not None for o in best) >= 6
    for s, r, o in zip(rows, ours, best):
        assert r.alternatives == o.alternatives  # every single edit over every key: ours misses none
        if o.edit is None:
            assert not r.flipped
            continue
        np.testing.assert_array_equal(r.edited, apply_edits(s, [o.edit]))
        assert r.log_likelihood == pytest.approx(o.log_likelihood, abs=1e-3)


class _Successor(torch.nn.Module):
    """A log model that expects key ``last + 1``, else ``last + 2`` (mod C): top-2 decides."""

    def __init__(self, num_keys: int = 10, window: int = 2) -> None:
        super().__init__()
        self.num_keys, self.window = num_keys, window
        m = torch.zeros(num_keys, num_keys)
        for i in range(num_keys):
            m[i, (i + 1) % num_keys], m[i, (i + 2) % num_keys] = 2.0, 1.0
        self.register_buffer("m", m - 0.01 * torch.arange(num_keys, dtype=torch.float32))

    def forward(self, onehot):
        return onehot[:, -1] @ self.m


def test_alternatives_count_every_single_fix_of_a_known_case():
    interp = deepaid_sdk.create("deeplog", model=_Successor(), num_candidates=2)
    sessions = [
        [0, 1, 2, 3, 9, 5, 6, 7],  # 9 after 3: replace it by 4, or delete it (5 may follow 3): 2 fixes
        [0, 1, 2, 3, 4, 5, 6, 7],  # normal
        [0, 1, 2, 3, 9, 5, 6, 7, 8, 9, 0, 1, 7, 3, 4],  # two flags far apart: no single edit fixes both
        [0, 1, 3, 8, 9, 0],  # 8 after 3, and neither 4 nor 5 (what may follow 3) leads on to 8 or 9: no fix
    ]
    batch = interp.interpret_sessions(sessions, k=2, pad=False)
    assert [r.alternatives for r in batch] == [2, 0, 0, 0]
    first = batch[0]
    assert first.flipped and {(e.kind, e.position, e.new_key) for e in (*first.edits, *first.next_best)} == {
        ("replace", 4, 4),
        ("delete", 4, None),
    }
    assert batch[2].flipped and len(batch[2].edits) == 2  # two rounds, one edit each
    from deepaid_plugin_deeplog.session_oracle import oracle

    assert [o.alternatives for o in oracle(interp.adapter, sessions, pad=False)] == [r.alternatives for r in batch]
    blob = json.loads(json.dumps(batch.to_dict(), allow_nan=False))
    assert blob["results"][0]["alternatives"] == 2 and len(blob["results"][0]["next_best"]) == 1


def test_normal_sessions_need_no_edit(deeplog_experiment):
    ex = deeplog_experiment
    interp = _create(ex)
    sessions = [s for s in sessions_from_windows(ex.test) if len(s) > ex.config.window][:30]
    flagged = _flagged(interp.adapter, sessions)
    normal = [s for s, f in zip(sessions, flagged) if not f][:5]
    batch = interp.interpret_sessions(normal)
    assert len(batch) == len(normal) > 0
    assert all(r.flipped and not r.edits and not r.flagged and r.rounds == 0 for r in batch)


def test_without_padding_only_keys_after_the_first_window_are_judged(deeplog_experiment, deeplog_planted):
    interp = _create(deeplog_experiment)
    w = deeplog_experiment.config.window
    batch = interp.interpret_sessions(list(deeplog_planted.sessions[:20]), pad=False, k=2)
    assert len(batch) == 20 and sum(len(r.flagged) for r in batch) >= 5 and sum(len(r.edits) for r in batch) >= 5
    for r in batch:
        assert all(p >= w for p in r.flagged) and all(p >= w for p in r.remaining)
        assert all(0 <= e.position <= len(r.session) for e in r.edits)


def test_bad_sessions_get_clear_errors(deeplog_experiment):
    interp = _create(deeplog_experiment)
    w, c = deeplog_experiment.config.window, deeplog_experiment.num_keys
    with pytest.raises(ValueError, match=rf"sessions\[1\]: expected a session of at least window \+ 1 = {w + 1}"):
        interp.interpret_sessions([np.full(w + 1, 2), np.full(w, 2)], pad=False)
    with pytest.raises(ValueError, match=r"sessions\[1\]: expected a session of at least one key; got 0"):
        interp.interpret_sessions([np.full(w + 1, 2), np.zeros(0, dtype=np.int64)])

    with pytest.raises(ValueError, match=rf"sessions\[0\]: key ids must lie in \[0, {c}\)"):
        interp.interpret_sessions([np.full(w + 3, c)])
    with pytest.raises(ValueError, match="wrap one session in a list"):
        interp.interpret_sessions(np.full(w + 3, 2))
    with pytest.raises(TypeError, match=r"sessions\[0\]: expected a 1-d sequence of integer key ids"):
        interp.interpret_sessions([np.full(w + 3, 2.0)])
    with pytest.raises(ValueError, match="sessions: expected at least one session"):
        interp.interpret_sessions([])
    with pytest.raises(ValueError, match="k: expected an integer >= 1"):
        interp.interpret_sessions([np.full(w + 3, 2)], k=0)
    # Ragged input where a batch must be rectangular (windows) is refused, naming the argument.
    with pytest.raises(TypeError, match="windows: expected an integer array of key ids"):
        interp.interpret_batch([[2] * w, [2] * (w - 1)], next_keys=[2, 2])


def test_padded_sessions_shorter_than_a_window_are_explained(deeplog_experiment, deeplog_planted):
    interp = _create(deeplog_experiment, k=2)
    # Prefixes, and prefixes that end at a flag shorter than a window (the model is causal: still flagged).
    w = deeplog_experiment.config.window
    whole = interp.interpret_sessions(list(deeplog_planted.sessions))
    early = [s[: r.flagged[0] + 1] for s, r in zip(deeplog_planted.sessions, whole) if r.flagged and r.flagged[0] < w]
    assert len(early) >= 3
    short = [s[:n] for s in deeplog_planted.sessions[:10] for n in (1, 3)] + early
    alone = interp.interpret_sessions(short)
    mixed = interp.interpret_sessions(list(deeplog_planted.sessions[:10]) + short)
    assert_records_close([r.edits for r in alone], [r.edits for r in list(mixed)[10:]])  # the batch changes no result
    assert all(0 <= p < len(r.session) for r in alone for p in r.flagged)
    ending_at_a_flag = alone.results[20:]
    assert all(r.flagged[-1] == len(r.session) - 1 for r in ending_at_a_flag)
    assert np.mean([r.flipped for r in ending_at_a_flag]) >= 0.6


# -- properties of edit sets -------------------------------------------------------------------


@st.composite
def _session_and_edits(draw):
    seq = draw(st.lists(st.integers(0, 9), min_size=1, max_size=30))
    n = len(seq)
    positions = draw(st.lists(st.integers(0, n), unique=True, max_size=5))
    edits = []
    for p in positions:
        kinds = ["insert"] if p == n else ["insert", "replace", "delete"]
        kind = draw(st.sampled_from(kinds))
        new = draw(st.integers(0, 9))
        if kind == "replace":
            new = (seq[p] + 1 + new % 9) % 10  # a different key
        edits.append(SessionEdit(kind, p, None if kind == "insert" else seq[p], None if kind == "delete" else new))
    return np.asarray(seq), edits


@settings(max_examples=200, deadline=None)
@given(_session_and_edits())
def test_apply_then_undo_gives_the_original_back(case):
    seq, edits = case
    edited, origin = apply_edits_with_origin(seq, edits)
    np.testing.assert_array_equal(undo_edits(edited, edits), seq)
    counts = {k: sum(e.kind == k for e in edits) for k in ("insert", "delete")}
    assert len(edited) == len(seq) + counts["insert"] - counts["delete"]
    kept = origin[origin >= 0]
    assert (np.diff(kept) > 0).all() and (kept < len(seq)).all()
    np.testing.assert_array_equal(edited[origin == -1].size, counts["insert"])
    for e in edits:  # positions stay within the session
        assert 0 <= e.position <= len(seq) - (e.kind != "insert")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(2, 6), min_size=2, max_size=30),
    st.sampled_from(["replace", "insert", "delete"]),
    st.integers(0, 2**31 - 1),
)
def test_every_truth_position_undoes_the_plant(seq, kind, seed):
    original = np.asarray(seq)
    anomalous, truth = plant_edit(original, kind, np.random.default_rng(seed), np.arange(2, 9))
    assert truth and all(0 <= q <= len(anomalous) for q in truth)
    for q in truth:
        if kind == "replace":
            fix = SessionEdit("replace", q, anomalous[q], original[q])
        elif kind == "insert":
            fix = SessionEdit("delete", q, anomalous[q], None)
        else:
            differ = np.flatnonzero(original[:-1] != anomalous)
            lost = int(original[differ[0] if differ.size else len(anomalous)])
            fix = SessionEdit("insert", q, None, lost)
        np.testing.assert_array_equal(apply_edits(anomalous, [fix]), original)


def test_edit_records_check_themselves():
    with pytest.raises(ValueError, match="kind"):
        SessionEdit("swap", 0, 1, 2)
    with pytest.raises(ValueError, match="insert: expected old_key None"):
        SessionEdit("insert", 0, 1, 2)
    with pytest.raises(ValueError, match="at most one edit per position"):
        apply_edits([1, 2, 3], [SessionEdit("delete", 1, 2, None), SessionEdit("replace", 1, 2, 3)])
    with pytest.raises(ValueError, match="expects key 5"):
        apply_edits([1, 2, 3], [SessionEdit("delete", 1, 5, None)])
    with pytest.raises(ValueError, match="outside a session of 3 keys"):
        apply_edits([1, 2, 3], [SessionEdit("replace", 3, 1, 2)])


def test_session_bench_scores_ours_and_the_baselines(deeplog_experiment, deeplog_planted):
    from deepaid_plugin_deeplog.session_bench import next_key_top_guess, score_methods, session_methods

    interp = _create(deeplog_experiment)
    adapter = interp.adapter
    part = keep(deeplog_planted, np.arange(len(deeplog_planted)) < 30)
    edits = next_key_top_guess(adapter, list(part.sessions))
    assert all(e and all(x.kind == "replace" for x in e) for e in edits)
    assert not any(_flagged(adapter, [apply_edits(s, e) for s, e in zip(part.sessions, edits)]))
    rows = score_methods(adapter, part, session_methods(interp, adapter, {}, k=2))
    # The first 30 planted sessions the model flags are 16 replaces and 14 inserts; no delete is among them.
    assert [(r[0], r[1], r[7]) for r in rows] == [
        ("replace", "deepaid", 16),
        ("replace", "next-key-top-guess", 16),
        ("insert", "deepaid", 14),
        ("insert", "next-key-top-guess", 14),
    ]
    assert all(r[5] > 0 for r in rows)
    figures = {(kind, name): (flip, pos, n_edits, kd) for kind, name, flip, pos, n_edits, _, kd, _ in rows}
    for kind in ("replace", "insert"):
        # The baseline replaces every flagged key by the top guess: all sessions flip, kind right only for a replace.
        assert figures[kind, "next-key-top-guess"][0] == 1.0
        assert figures[kind, "next-key-top-guess"][3] == (1.0 if kind == "replace" else 0.0)
        # Ours (measured: flip 1, position 1, one edit per session, kind 0.75 and 0.64).
        flip, pos, n_edits, kd = figures[kind, "deepaid"]
        assert flip >= 0.95 and pos >= 0.9 and 1.0 <= n_edits <= 1.2 and kd >= 0.5


def test_first_edit_notes_put_ours_beside_the_oracle(deeplog_experiment, deeplog_planted):
    from deepaid_plugin_deeplog.session_bench import first_edit_notes

    interp = _create(deeplog_experiment)
    part = keep(deeplog_planted, np.arange(len(deeplog_planted)) < 12)
    notes = first_edit_notes(interp.adapter, interp, part, oracle_n=3)
    kinds = sorted(set(part.kinds))
    assert [n.split(" ")[0] for n in notes] == [
        f"sessions-g{interp.adapter.num_candidates}-{k}" for k in KINDS if k in kinds
    ]
    for note in notes:
        assert "likelihood oracle" in note and "alternatives median" in note and "flip 1.000" in note


def test_windows_resumed_from_a_shared_prefix_give_the_same_logits(deeplog_experiment):
    from deepaid_plugin_deeplog.window_scores import WindowScorer, prefix_logits

    adapter = _create(deeplog_experiment).adapter
    w, c = adapter.window, adapter.num_keys
    gen = torch.Generator().manual_seed(0)
    base = torch.randint(0, c, (40, w), generator=gen)
    windows = base.repeat(5, 1)  # each base window edited at one place: many share a prefix
    cut = torch.randint(0, w + 1, (len(windows),), generator=gen)
    at = cut.clamp(max=w - 1)
    edited = torch.randint(0, c, (len(windows),), generator=gen)
    rows = torch.arange(len(windows))
    windows[rows, at] = torch.where(cut < w, edited, windows[rows, at])
    whole = WindowScorer(adapter)
    assert whole.resumable  # the plugin's own LSTM
    expected = whole.logits(windows)
    mult = whole._mult
    assert mult is not None
    for chunk in (1024, 7):  # chunked or not, with or without the hint: the same logits
        torch.testing.assert_close(prefix_logits(adapter.model, windows, cut, mult, chunk), expected)
    hinted = WindowScorer(adapter)
    torch.testing.assert_close(hinted.logits(windows, cut), expected)
    assert hinted.model_windows == whole.model_windows  # the hint changes how, not which, windows are run


def test_other_models_ignore_the_prefix_hint():
    from deepaid_plugin_deeplog.adapters import DeepLogAdapter
    from deepaid_plugin_deeplog.window_scores import WindowScorer

    adapter = DeepLogAdapter(_Successor(), num_candidates=2)
    scorer = WindowScorer(adapter)
    assert not scorer.resumable
    windows = torch.tensor([[0, 1], [3, 4], [0, 1]])
    torch.testing.assert_close(scorer.logits(windows, torch.tensor([1, 0, 2])), adapter.model(adapter.one_hot(windows)))
