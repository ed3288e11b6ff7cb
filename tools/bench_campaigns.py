"""Time ``group_campaigns`` on synthetic explain records: ``python tools/bench_campaigns.py [N]``.

Each record changes 1-3 of 20 features (sorted), values normal around a zero reference; normal
spreads of 1. Prints the records, campaigns and the best of three timings (building the table aside).
"""

import sys
import time

import numpy as np
import pyarrow as pa

from deepaid_sdk.campaigns import group_campaigns
from deepaid_sdk.explain.sentences import NormalStats


def records(n: int, width: int = 20, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    k = rng.integers(1, 4, n)
    offsets = pa.array(np.concatenate([[0], np.cumsum(k)]).astype(np.int32))
    features = np.concatenate([np.sort(rng.choice(width, m, replace=False)) for m in k])
    values = rng.normal(scale=2.0, size=len(features))
    return pa.table(
        {
            "id": np.arange(n),
            "changed": pa.ListArray.from_arrays(offsets, pa.array([f"f{i}" for i in features])),
            "anomaly_values": pa.ListArray.from_arrays(offsets, pa.array(values)),
            "reference_values": pa.ListArray.from_arrays(offsets, pa.array(np.zeros(len(values)))),
        }
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    table = records(n)
    stats = NormalStats([f"f{i}" for i in range(20)], [0.0] * 20, [1.0] * 20)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        campaigns = group_campaigns(table, stats)
        times.append(time.perf_counter() - start)
    print(f"records {n:,}  campaigns {len(campaigns):,}  largest {campaigns[0].count}  best {min(times):.2f} s")


if __name__ == "__main__":
    main()
