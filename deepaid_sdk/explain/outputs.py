"""Where an explain job writes, checked before any work, and cleaned up when the job fails.

The job writes ``OUTPUT``, ``OUTPUT.parts/`` (committed chunks), ``OUTPUT.manifest.json`` and, with
``on_error="skip"``, ``OUTPUT.rejects.jsonl``. Nothing the user had is replaced without ``overwrite``;
a job that fails before committing anything leaves nothing behind; one that fails later keeps its
committed chunks and says how to resume.
"""

from __future__ import annotations

import os
import pathlib
import shutil
from typing import Any, Iterable

import attrs


@attrs.frozen
class JobPaths:
    """Every path an explain job writes for ``output``."""

    output: pathlib.Path
    parts: pathlib.Path
    manifest: pathlib.Path
    rejects: pathlib.Path

    @classmethod
    def of(cls, output: str | os.PathLike) -> JobPaths:
        out = pathlib.Path(output)
        return cls(
            out,
            out.with_name(out.name + ".parts"),
            out.with_name(out.name + ".manifest.json"),
            out.with_name(out.name + ".rejects.jsonl"),
        )


def _same_file(a: pathlib.Path, b: pathlib.Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:  # pragma: no cover - resolve fails only on loops of links
        return False


def check_output(paths: JobPaths, *, reads: Iterable[tuple[str, Any]], overwrite: bool, resume: bool) -> None:
    """Refuse, before any work, an output that would lose or corrupt something.

    ``reads`` are ``(argument, path)`` pairs of the files the job reads (input, normal rows, weights,
    rules): the output may be none of them.
    """
    out = paths.output
    if out.is_dir():
        raise ValueError(f"output: {str(out)!r} is a directory; give a file name (.jsonl or .parquet)")
    folder = out.parent if str(out.parent) else pathlib.Path(".")
    if not folder.is_dir():
        raise ValueError(f"output: the folder {str(folder)!r} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"output: cannot write in the folder {str(folder)!r} (permission denied)")
    for name, path in reads:
        if path is not None and isinstance(path, (str, os.PathLike)) and _same_file(out, pathlib.Path(path)):
            raise ValueError(f"output: {str(out)!r} is the {name} file; choose another output")
    if paths.parts.exists() and not paths.parts.is_dir():
        raise ValueError(
            f"output: the job's parts folder {str(paths.parts)!r} exists and is not a folder; move it away"
        )
    for what, path in (("manifest", paths.manifest), ("rejects file", paths.rejects)):
        if path.is_dir():
            raise ValueError(f"output: the job's {what} {str(path)!r} is a directory; move it away")
    resumable = resume and paths.manifest.is_file()
    if out.exists() and not overwrite and not resumable:
        raise ValueError(
            f"output: {str(out)!r} exists; pass --overwrite (overwrite=True) to replace it"
            + ("" if resume else ", or --resume to continue the job that wrote it")
        )
    if not resume and not overwrite and paths.manifest.is_file():
        raise ValueError(
            f"output: an interrupted job's manifest {str(paths.manifest)!r} is there; pass --resume to "
            "continue it, or --overwrite to start over"
        )


def clean_failed(paths: JobPaths, *, committed_before: int, committed_now: int, created_parts: bool) -> str | None:
    """After a failure: remove what this run created when nothing is committed; else say how to resume.

    Returns the sentence to add to the error (None when everything was removed).
    """
    if committed_now == 0:
        if created_parts:
            shutil.rmtree(paths.parts, ignore_errors=True)
            paths.manifest.unlink(missing_ok=True)
        for tmp in (
            paths.output.with_name(paths.output.name + ".tmp"),
            paths.manifest.with_name(paths.manifest.name + ".tmp"),
        ):
            tmp.unlink(missing_ok=True)
        return None
    chunks = f"{committed_now} chunk{'s are' if committed_now != 1 else ' is'}"
    return (
        f"{chunks} committed in {str(paths.parts)!r} ({committed_now - committed_before} by this run); fix the "
        "cause and run the same command with --resume to continue from there"
    )
