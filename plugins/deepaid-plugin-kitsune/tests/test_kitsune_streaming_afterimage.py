"""AfterImage in chunks: the rows of a capture read chunk by chunk are those of one pass over it."""

from __future__ import annotations

import attrs
import numpy as np
import pytest

from deepaid_plugin_kitsune.afterimage import AfterImage, extract_features
from deepaid_plugin_kitsune.packets import PacketTable


def _table(n: int, seed: int, hosts: int = 6, gap: float = 0.05) -> PacketTable:
    rng = np.random.default_rng(seed)
    src = rng.integers(0, hosts, n)
    dst = (src + rng.integers(1, hosts, n)) % hosts
    return PacketTable.from_records(
        ts=np.cumsum(rng.exponential(gap, n)),
        size=rng.integers(60, 1500, n),
        src_mac=[f"mac{s}" for s in src],
        src_ip=[f"10.0.0.{s}" for s in src],
        dst_ip=[f"10.0.0.{d}" for d in dst],
        sport=rng.choice([80, 443, 1234, 5555], n),
        dport=rng.choice([80, 443, 1234, 5555], n),
    )


def _rows(table: PacketTable, start: int, stop: int) -> PacketTable:
    cols = {f.name: getattr(table, f.name)[start:stop] for f in attrs.fields(PacketTable)[:-1]}
    return PacketTable(**cols, labels=table.labels)


def _chunked(table: PacketTable, cuts: list[int], extractor: AfterImage | None = None) -> np.ndarray:
    extractor = extractor or AfterImage()
    bounds = [0, *cuts, len(table)]
    return np.concatenate([extractor.update(_rows(table, a, b)) for a, b in zip(bounds[:-1], bounds[1:])])


@pytest.mark.parametrize("cuts", [[1], [7, 8, 9], [250, 500, 750], list(range(37, 1200, 37))])
def test_chunked_rows_equal_one_pass(cuts: list[int]) -> None:
    table = _table(1200, 0)
    whole = extract_features(table)
    np.testing.assert_allclose(_chunked(table, cuts), whole, rtol=1e-7, atol=1e-4)  # std = sqrt(ss/w - m^2): rounding


def test_a_stream_silent_past_the_horizon_starts_afresh_chunked_or_not() -> None:
    table = _table(400, 1, hosts=3)
    late = attrs.evolve(table, ts=np.where(np.arange(400) >= 200, table.ts + 50.0, table.ts))
    whole = extract_features(late, horizon=30.0)
    np.testing.assert_allclose(
        _chunked(late, [200], AfterImage(horizon=30.0)), whole, rtol=1e-7, atol=1e-4
    )  # std = sqrt(ss/w - m^2): rounding
    # After the 50-second silence every stream restarts: the first packet of each source has weight 1.
    first = 200 + int(np.argmax(late.src_ip[200:] == late.src_ip[200]))
    assert np.allclose(whole[first, 15:30:3], 1.0)  # H_<decay>_weight of that source
    kept = extract_features(late)  # the default horizon (2000 s) keeps them
    assert (kept[first, 15:30:3][3:] > 1.0).all()


def test_state_round_trip_continues_the_same_streams() -> None:
    table = _table(600, 2)
    one = AfterImage()
    one.update(_rows(table, 0, 300))
    again = AfterImage.from_state(dict(one.state()))
    assert again.live_streams() == one.live_streams() > 0
    np.testing.assert_allclose(again.update(_rows(table, 300, 600)), one.update(_rows(table, 300, 600)))


def test_streams_silent_past_the_horizon_are_not_carried() -> None:
    table = _table(300, 3, hosts=4)
    extractor = AfterImage(horizon=5.0)
    extractor.update(table)
    before = extractor.live_streams()
    extractor.update(attrs.evolve(_rows(table, 0, 1), ts=table.ts[-1:] + 100.0))
    assert 0 < extractor.live_streams() < before
