"""``deepaid bench explain``: the explain job on a generated file of tabular alerts (width 100).

Every figure comes from a fresh subprocess (``python -m deepaid_sdk.bench.explain run JSON``) so
that its peak RSS is its own: the local engine on ``n`` rows and on ``n // 10`` rows (memory must not grow
with the file), a run killed with SIGKILL and resumed (time until the resumed job commits again, and
every row exactly once), and the Ray engine with 1 and 2 local workers on the ``n // 10`` file.
"""

from __future__ import annotations

import json
import os
import pathlib
import resource
import signal
import subprocess
import sys
import time
from typing import Any

import numpy as np

from deepaid_sdk.bench.report import BenchmarkReport

WIDTH = 100
DEFAULT_N = 20_000
FACTORY = "deepaid_sdk.bench.synthetic:mlp_autoencoder"
MODEL_ARGS = {"width": WIDTH, "hidden": 64, "bottleneck": 16}
BLOCK = 50_000
#: Rows per Parquet row group of every generated file, so that files of any length compare fairly
#: (a reader holds one row group at a time).
ROW_GROUP = 10_000


def write_alerts(path: pathlib.Path, n: int, mixing: np.ndarray, std: np.ndarray, seed: int) -> None:
    """``n`` alert rows (manifold rows with 5 features shifted by 3-5 std) written to Parquet in blocks."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed + 1)
    names = [f"f{i:03d}" for i in range(WIDTH)]
    with pq.ParquetWriter(path, pa.schema([("id", pa.int64()), *[(c, pa.float32()) for c in names]])) as writer:
        for start in range(0, n, BLOCK):
            m = min(BLOCK, n - start)
            rows = rng.standard_normal((m, mixing.shape[0])) @ mixing + 0.05 * rng.standard_normal((m, WIDTH))
            shifted = np.argsort(rng.random((m, WIDTH)), axis=1)[:, :5]
            sign = rng.choice([-1.0, 1.0], size=(m, 5))
            np.put_along_axis(
                rows,
                shifted,
                np.take_along_axis(rows, shifted, 1) + sign * rng.uniform(3.0, 5.0, (m, 5)) * std[shifted],
                axis=1,
            )
            columns = {
                "id": np.arange(start, start + m),
                **{c: rows[:, i].astype(np.float32) for i, c in enumerate(names)},
            }
            writer.write_table(pa.table(columns), row_group_size=ROW_GROUP)


def prepare(out: pathlib.Path, n: int, seed: int) -> dict[str, pathlib.Path]:
    """Train the detector, save its weights and normal rows, and write the alert files of ``n`` and ``n // 10``."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from safetensors.torch import save_file

    from deepaid_sdk.bench.synthetic import train_autoencoder

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((10, WIDTH)) / np.sqrt(10)
    normal = (rng.standard_normal((4000, 10)) @ mixing + 0.05 * rng.standard_normal((4000, WIDTH))).astype(np.float32)
    model = train_autoencoder(normal, epochs=15, seed=seed, hidden=64, bottleneck=16)
    files = {
        "weights": out / "ae.safetensors",
        "normal": out / "normal.parquet",
        "big": out / f"alerts-{n}.parquet",
        "small": out / f"alerts-{n // 10}.parquet",
    }
    save_file(model.state_dict(), str(files["weights"]))
    pq.write_table(pa.table({f"f{i:03d}": normal[:, i] for i in range(WIDTH)}), files["normal"])
    for key, rows in (("big", n), ("small", n // 10)):
        if not files[key].is_file():
            write_alerts(files[key], rows, mixing, normal.std(axis=0), seed)
    return files


def _job(files: dict[str, pathlib.Path], src: str, output: pathlib.Path, **extra: Any) -> dict[str, Any]:
    return {
        "preset": "tabular",
        "model": FACTORY,
        "input": str(files[src]),
        "output": str(output),
        "weights": str(files["weights"]),
        "model_args": MODEL_ARGS,
        "normal": str(files["normal"]),
        "id_column": "id",
        "batch_size": 1024,
        "quiet": True,
        **extra,
    }


def _command(job: dict[str, Any]) -> list[str]:
    return [sys.executable, "-m", "deepaid_sdk.bench.explain", "run", json.dumps(job)]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "DEEPAID_QUIET": "1"}


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job in a fresh process; its summary, wall time and peak RSS."""
    proc = subprocess.run(_command(job), capture_output=True, text=True, env=_env())
    if proc.returncode != 0:
        raise RuntimeError(f"explain job failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def kill_and_resume(job: dict[str, Any], after_rows: int) -> dict[str, Any]:
    """Start ``job``, SIGKILL it once ``after_rows`` rows are committed, resume; time to the first new commit."""
    from deepaid_sdk.explain.manifest import Manifest

    manifest = pathlib.Path(job["output"] + ".manifest.json")
    proc = subprocess.Popen(_command(job), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    done = 0
    while proc.poll() is None:
        if manifest.is_file():
            done = Manifest.load(manifest).rows_done
            if done >= after_rows:
                break
        time.sleep(0.05)
    if proc.poll() is not None:
        raise RuntimeError("kill_and_resume: the job ended before it was killed; use a larger n")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = Manifest.load(manifest).rows_done
    started = time.perf_counter()
    resumed = subprocess.Popen(
        _command({**job, "resume": True}), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )
    first_commit = None
    while resumed.poll() is None:
        if first_commit is None and Manifest.load(manifest).rows_done > killed_at:
            first_commit = time.perf_counter() - started
        time.sleep(0.05)
    total = time.perf_counter() - started
    out, err = resumed.communicate()
    if resumed.returncode != 0:
        raise RuntimeError(f"resumed job failed: {err[-2000:]}")
    import pyarrow.parquet as pq

    ids = pq.read_table(job["output"], columns=["id"]).column("id").to_numpy()
    return {
        "killed_at_rows": killed_at,
        "first_new_commit_s": first_commit,
        "resume_total_s": total,
        "rows": int(ids.size),
        "exactly_once": bool(np.array_equal(ids, np.arange(ids.size))),
        "summary": json.loads(out.strip().splitlines()[-1]),
    }


def run_benchmark(
    n: int | None = None, seed: int = 0, device: str = "cpu", out: pathlib.Path | None = None
) -> BenchmarkReport:
    """Local engine on n and n // 10 alerts, kill-and-resume on n, Ray (1 and 2 workers) on n // 10."""
    if device != "cpu":
        raise ValueError("device: the explain benchmark runs on the CPU (the job's --device is a job option)")
    n = DEFAULT_N if n is None else int(n)
    if n < 1000:
        raise ValueError(f"n: expected at least 1000 alerts; got {n}")
    root = pathlib.Path(out or "deepaid-out") / "bench-explain"
    files = prepare(root, n, seed)
    rows: list[tuple[Any, ...]] = []

    def row(case: str, result: dict[str, Any]) -> None:
        rate = (result["rows"] - result["resumed_rows"]) / result["seconds"]
        rows.append((case, result["rows"], round(rate, 1), round(result["seconds"], 1), round(result["maxrss_mb"], 1)))

    small: dict[str, Any] = {}
    big: dict[str, Any] = {}
    for key, store in (("small", small), ("big", big)):
        result = measure(_job(files, key, root / f"out-{key}.parquet"))
        store.update(result)
        row(f"local, {key}", result)
    for workers in (1, 2):
        row(
            f"ray {workers} worker{'s' if workers > 1 else ''}, small",
            measure(_job(files, "small", root / f"out-ray{workers}.parquet", engine="ray", workers=workers)),
        )
    resume = kill_and_resume(_job(files, "big", root / "out-resume.parquet"), after_rows=max(1024, n // 4))
    ratio = big["maxrss_mb"] / small["maxrss_mb"]
    notes = (
        f"peak RSS, {n:,} vs {n // 10:,} rows: {big['maxrss_mb']:.0f} MB vs {small['maxrss_mb']:.0f} MB "
        f"(x{ratio:.2f}; target within 1.25)",
        f"kill at {resume['killed_at_rows']:,} rows, resume: first new chunk committed after "
        f"{resume['first_new_commit_s']:.1f} s, resumed job {resume['resume_total_s']:.1f} s in all; "
        f"{resume['rows']:,} rows, every row exactly once: {resume['exactly_once']}",
        f"load average at the end: {os.getloadavg()[0]:.2f}",
    )
    return BenchmarkReport(
        name="explain",
        columns=("case", "rows", "alerts/s", "seconds", "peak RSS MB"),
        rows=tuple(rows),
        setup={
            "width": WIDTH,
            "detector": "MLP AE 100-64-16-64-100",
            "batch_size": 1024,
            "input": "parquet",
            "OMP_NUM_THREADS": 1,
            "cpus": os.cpu_count(),
            "n": n,
        },
        notes=notes,
    )


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    ``VmHWM`` from /proc where there is one: ``ru_maxrss`` of a freshly exec'ed child starts at the RSS of
    the parent it was forked from, which would hide the job's own memory behind the benchmark driver's.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(job: dict[str, Any]) -> None:
    from deepaid_sdk.explain import explain_file

    started = time.perf_counter()
    summary = explain_file(**job)
    result = {**summary.to_dict(), "wall_s": time.perf_counter() - started, "maxrss_mb": peak_rss_mb()}
    print(json.dumps(result))


if __name__ == "__main__":  # pragma: no cover - the benchmark's own worker process
    if len(sys.argv) != 3 or sys.argv[1] != "run":
        sys.exit("usage: python -m deepaid_sdk.bench.explain run JOB_JSON")
    _run(json.loads(sys.argv[2]))
