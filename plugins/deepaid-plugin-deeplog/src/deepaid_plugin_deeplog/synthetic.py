"""Synthetic workflow logs with ground truth: HDFS-like block life cycles from a small state machine.

Each session is one block: allocated, written through a pipeline of ``r`` datanodes, then read,
verified, appended to or re-replicated, and often deleted. Anomalous sessions get one planted
change -- a key inserted, deleted or substituted at a known position. Lines are written in an
HDFS-like format and interleaved by time, so grouping by block id is needed to recover sessions.
"""

from __future__ import annotations

import pathlib
from typing import Any

import attrs
import numpy as np

from deepaid_sdk.records import array_field

#: (name, component, content template). Fields: {blk} {ip} {port} {size} {path} {n}.
NORMAL_EVENTS: tuple[tuple[str, str, str], ...] = (
    ("ALLOC", "dfs.FSNamesystem", "BLOCK* NameSystem.allocateBlock: {path} {blk}"),
    ("RECV", "dfs.DataNode$DataXceiver", "Receiving block {blk} src: /{ip}:{port} dest: /{ip}:{port}"),
    ("RESP", "dfs.DataNode$PacketResponder", "PacketResponder {n} for block {blk} terminating"),
    ("RCVD", "dfs.DataNode$PacketResponder", "Received block {blk} of size {size} from /{ip}"),
    (
        "STORED",
        "dfs.FSNamesystem",
        "BLOCK* NameSystem.addStoredBlock: blockMap updated: {ip}:{port} is added to {blk} size {size}",
    ),
    ("VERIFY", "dfs.DataBlockScanner", "Verification succeeded for {blk}"),
    ("SERVED", "dfs.DataNode$DataXceiver", "{ip}:{port} Served block {blk} to /{ip}"),
    ("SERVEX", "dfs.DataNode$DataXceiver", "{ip}:{port}:Got exception while serving {blk} to /{ip}:"),
    ("PENDING", "dfs.PendingReplicationMonitor", "PendingReplicationMonitor timed out block {blk}"),
    ("ASKREP", "dfs.FSNamesystem", "BLOCK* ask {ip}:{port} to replicate {blk} to datanode(s) {ip}:{port}"),
    ("STARTT", "dfs.DataNode", "{ip}:{port} Starting thread to transfer block {blk} to {ip}:{port}"),
    ("RCVDREP", "dfs.DataNode$DataXceiver", "Received block {blk} src: /{ip}:{port} dest: /{ip}:{port} of size {size}"),
    ("TRANSM", "dfs.DataNode$DataTransfer", "{ip}:{port}:Transmitted block {blk} to /{ip}:{port}"),
    ("REOPEN", "dfs.DataNode", "Reopen Block {blk}"),
    (
        "OFFSET",
        "dfs.DataNode$BlockReceiver",
        "Changing block file offset of block {blk} from {n} to {size} meta file offset to {n}",
    ),
    ("ASKDEL", "dfs.FSNamesystem", "BLOCK* ask {ip}:{port} to delete {blk}"),
    ("INVAL", "dfs.FSNamesystem", "BLOCK* NameSystem.delete: {blk} is added to invalidSet of {ip}:{port}"),
    ("DELETE", "dfs.FSDataset", "Deleting block {blk} file /mnt/hadoop/dfs/data/current/subdir{n}/{blk}"),
    (
        "REMOVED",
        "dfs.FSNamesystem",
        "BLOCK* Removing block {blk} from neededReplications as it does not belong to any file.",
    ),
)
#: Events that never occur in a normal life cycle.
ANOMALY_EVENTS: tuple[tuple[str, str, str], ...] = (
    (
        "WEXC",
        "dfs.DataNode$DataXceiver",
        "writeBlock {blk} received exception java.io.IOException: Could not read from stream",
    ),
    (
        "RESPEXC",
        "dfs.DataNode$PacketResponder",
        "PacketResponder {blk} {n} Exception java.io.InterruptedIOException: Interruped while waiting for IO",
    ),
    (
        "RECVEXC",
        "dfs.DataNode$DataXceiver",
        "Exception in receiveBlock for block {blk} java.io.IOException: Connection reset by peer",
    ),
    ("EXISTS", "dfs.FSDataset", "Adding an already existing block {blk}"),
    ("NOTFOUND", "dfs.FSDataset", "Unexpected error trying to delete block {blk}. BlockInfo not found in volumeMap."),
    (
        "REDUNDANT",
        "dfs.FSNamesystem",
        "BLOCK* NameSystem.addStoredBlock: Redundant addStoredBlock request "
        "received for {blk} on {ip}:{port} size {size}",
    ),
)
EVENTS = NORMAL_EVENTS + ANOMALY_EVENTS
EVENT_NAMES = tuple(e[0] for e in EVENTS)
_ID = {name: i for i, name in enumerate(EVENT_NAMES)}
NUM_NORMAL = len(NORMAL_EVENTS)
#: Regex that strips the header of the lines written here (same layout as HDFS logs).
LINE_HEADER = r"^\d{6} \d{6} \d+ [A-Z]+ \S+: (?P<content>.*)$"
PLANT_KINDS = ("insert", "delete", "substitute")


@attrs.frozen
class SyntheticLog:
    """Generated log lines and, per session, the true events, label and planted change."""

    lines: tuple[str, ...]
    line_events: np.ndarray = array_field()
    """``[n_lines]`` true event index (into ``EVENTS``) of each line."""
    block_ids: tuple[str, ...]
    """Session (block) ids, in generation order."""
    session_events: tuple[np.ndarray, ...] = attrs.field(eq=False)
    """Per session, its true event indices in order (after the planted change)."""
    labels: np.ndarray = array_field()
    """``[S]`` bool: the session carries a planted anomaly."""
    kinds: tuple[str, ...]
    """Per session: ``insert``, ``delete``, ``substitute`` or ``""`` (normal)."""
    positions: np.ndarray = array_field()
    """``[S]`` planted position in the session: the inserted or substituted event, or for a
    deletion the event right after the gap; -1 for normal sessions."""
    planted_events: np.ndarray = array_field()
    """``[S]`` the event inserted, substituted in or deleted; -1 for normal sessions."""

    def planted_positions(self, session: int) -> np.ndarray:
        """Positions in ``session`` that explain its planted change equally well.

        A substitution has one. An insertion into a run of equal events could be any event of
        the run. A deletion is a gap: every gap that gives back the same original sequence
        counts (deleting one event of a run), and both events beside each such gap count.
        """
        kind, pos, ev = self.kinds[session], int(self.positions[session]), int(self.planted_events[session])
        seq = self.session_events[session]
        if not kind:
            return np.zeros(0, dtype=np.int64)
        if kind == "substitute":
            return np.asarray([pos], dtype=np.int64)
        if kind == "insert":
            lo, hi = pos, pos
            while lo > 0 and seq[lo - 1] == ev:
                lo -= 1
            while hi + 1 < len(seq) and seq[hi + 1] == ev:
                hi += 1
            return np.arange(lo, hi + 1, dtype=np.int64)
        # Deletion before index pos: equivalent gaps span the run of ``ev`` around it.
        lo, hi = pos, pos
        while lo > 0 and seq[lo - 1] == ev:
            lo -= 1
        while hi < len(seq) and seq[hi] == ev:
            hi += 1
        return np.arange(max(lo - 1, 0), min(hi, len(seq) - 1) + 1, dtype=np.int64)

    def write(self, path: Any) -> pathlib.Path:
        """Write the lines to a text file (one per line) and return its path."""
        p = pathlib.Path(path)
        p.write_text("\n".join(self.lines) + "\n", encoding="utf-8")
        return p


def _write_phase(rng: np.random.Generator, r: int) -> list[int]:
    seq = [_ID["RECV"]] * r
    for _ in range(r):
        pair = [_ID["RESP"], _ID["RCVD"]]
        seq += pair if rng.random() < 0.7 else pair[::-1]
    return seq + [_ID["STORED"]] * r


def normal_session(rng: np.random.Generator) -> list[int]:
    """One block life cycle (event indices) from the state machine."""
    r = 3 if rng.random() < 0.8 else 2
    seq = [_ID["ALLOC"], *_write_phase(rng, r)]
    appended = False
    for _ in range(int(rng.integers(0, 5))):
        u = rng.random()
        if u < 0.55:
            seq.append(_ID["SERVED"] if rng.random() < 0.85 else _ID["SERVEX"])
        elif u < 0.75:
            seq.append(_ID["VERIFY"])
        elif u < 0.88 and not appended:
            appended = True
            seq += [
                _ID["REOPEN"],
                *[_ID["RECV"]] * r,
                *[_ID["OFFSET"]] * r,
                *[_ID["RESP"]] * r,
                *[_ID["RCVD"]] * r,
                *[_ID["STORED"]] * r,
            ]
        elif r < 3:
            r += 1
            seq += ([_ID["PENDING"]] if rng.random() < 0.3 else []) + [
                _ID["ASKREP"],
                _ID["STARTT"],
                _ID["RCVDREP"],
                _ID["TRANSM"],
                _ID["STORED"],
            ]
        else:
            seq.append(_ID["SERVED"])
    if rng.random() < 0.7:
        seq += [_ID["ASKDEL"], *[_ID["INVAL"]] * r, *[_ID["DELETE"]] * r]
        if rng.random() < 0.3:
            seq.append(_ID["REMOVED"])
    return seq


#: How often each kind is planted (renormalised over the kinds asked for).
PLANT_WEIGHTS = {"insert": 0.4, "delete": 0.2, "substitute": 0.4}


def plant(
    seq: list[int], rng: np.random.Generator, kinds: tuple[str, ...] = PLANT_KINDS
) -> tuple[list[int], str, int, int]:
    """One planted change: the new sequence, its kind, position (see ``SyntheticLog.positions``) and event."""
    weights = np.asarray([PLANT_WEIGHTS[k] for k in kinds])
    kind = str(rng.choice(kinds, p=weights / weights.sum()))
    out = list(seq)
    if kind == "delete":
        pos = int(rng.integers(1, len(seq) - 1))
        key = out.pop(pos)
        return out, kind, pos, key
    if rng.random() < 0.75:
        key = NUM_NORMAL + int(rng.integers(0, len(ANOMALY_EVENTS)))
    else:
        key = int(rng.integers(0, NUM_NORMAL))
    if kind == "insert":
        pos = int(rng.integers(1, len(seq) + 1))
        out.insert(pos, key)
        return out, kind, pos, key
    pos = int(rng.integers(1, len(seq)))
    while key == out[pos]:
        key = int(rng.integers(0, NUM_NORMAL))
    out[pos] = key
    return out, kind, pos, key


def _ip(rng: np.random.Generator) -> str:
    return f"10.251.{rng.integers(0, 256)}.{rng.integers(1, 255)}"


def _render(template: str, blk: str, rng: np.random.Generator) -> str:
    task, part = int(rng.integers(0, 10**6)), int(rng.integers(0, 99))
    fields = {
        "blk": blk,
        "size": str(int(rng.integers(1, 1 << 26))),
        "n": str(int(rng.integers(0, 64))),
        "path": f"/user/root/rand/_temporary/_task_{task:06d}/part-{part:05d}",
    }
    # Each {ip}/{port} occurrence gets its own value.
    out = template
    while "{ip}" in out or "{port}" in out:
        out = out.replace("{ip}", _ip(rng), 1).replace("{port}", str(int(rng.integers(1024, 65536))), 1)
    return out.format(**fields)


def generate_workflow_logs(
    n_sessions: int,
    *,
    anomaly_rate: float = 0.1,
    seed: int = 0,
    kinds: tuple[str, ...] = PLANT_KINDS,
) -> SyntheticLog:
    """``n_sessions`` block life cycles, a share ``anomaly_rate`` with one planted change each."""
    if isinstance(n_sessions, bool) or not isinstance(n_sessions, (int, np.integer)) or n_sessions < 1:
        raise ValueError(f"n_sessions: expected a positive integer; got {n_sessions!r}")
    if not 0.0 <= anomaly_rate <= 1.0:
        raise ValueError(f"anomaly_rate: expected a share in [0, 1]; got {anomaly_rate}")
    if not kinds or any(k not in PLANT_KINDS for k in kinds):
        raise ValueError(f"kinds: expected a non-empty subset of {PLANT_KINDS}; got {kinds!r}")
    rng = np.random.default_rng(seed)
    ids, events, labels, plant_kinds, positions, planted = [], [], [], [], [], []
    stamps, texts, line_ev = [], [], []
    for _ in range(int(n_sessions)):  # data generation, not a hot path
        blk = f"blk_{'-' if rng.random() < 0.5 else ''}{int(rng.integers(10**17, 10**18))}"
        seq = normal_session(rng)
        kind, pos, ev = "", -1, -1
        if rng.random() < anomaly_rate:
            seq, kind, pos, ev = plant(seq, rng, kinds)
        ids.append(blk)
        events.append(np.asarray(seq, dtype=np.int64))
        labels.append(bool(kind))
        plant_kinds.append(kind)
        positions.append(pos)
        planted.append(ev)
        t = rng.uniform(0, 86_000.0) + np.cumsum(rng.exponential(0.5, size=len(seq)))
        for ev, ts in zip(seq, t):
            name, component, template = EVENTS[ev]
            stamps.append(ts)
            line_ev.append(ev)
            texts.append((component, _render(template, blk, rng)))
    order = np.argsort(np.asarray(stamps), kind="stable")
    lines = []
    for i in order:
        ts = stamps[i]
        hh, mm, ss = int(ts // 3600), int(ts % 3600 // 60), int(ts % 60)
        component, content = texts[i]
        lines.append(f"081109 {hh:02d}{mm:02d}{ss:02d} {1000 + int(i) % 9000} INFO {component}: {content}")
    return SyntheticLog(
        lines=tuple(lines),
        line_events=np.asarray(line_ev, dtype=np.int64)[order],
        block_ids=tuple(ids),
        session_events=tuple(events),
        labels=np.asarray(labels, dtype=bool),
        kinds=tuple(plant_kinds),
        positions=np.asarray(positions, dtype=np.int64),
        planted_events=np.asarray(planted, dtype=np.int64),
    )
