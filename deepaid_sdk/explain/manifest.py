"""The manifest beside an explain job's output: what was read, with which options, and how far it got.

It is rewritten atomically after every committed chunk. ``--resume`` reads it, refuses a different input
or different options, and skips the chunks it lists.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Callable

import attrs

#: Bumped when the layout of the manifest or of the part files changes.
MANIFEST_VERSION = 1


@attrs.frozen
class Manifest:
    """State of one explain job (JSON beside the output as ``OUTPUT.manifest.json``)."""

    input: dict[str, Any]
    """Fingerprint of the input file: path, size, hash of its start, middle and end."""
    options: dict[str, Any]
    """Everything that changes the output: preset, model and weights fingerprints, columns, chunk size..."""
    chunks_done: int = 0
    """Chunks committed, in order (part files ``part-00000`` ...)."""
    rows_done: int = 0
    alerts: int = 0
    """Rows the detector flagged, among those done."""
    flipped: int = 0
    """Alerts whose reference the detector judges normal, among those done."""
    complete: bool = False
    """The output file was assembled from every part."""
    rejected: int = 0
    """Input rows written to the rejects file (``on_error="skip"``), among those done."""
    chunk_digests: list[str] = attrs.field(factory=list)
    """A hash of each committed chunk's input rows: a resume after a fix past them checks only these."""
    normal_stats: dict[str, Any] | None = None
    """The normal ranges the sentences quote (``sentences.NormalStats.to_dict``), computed once per job."""
    started_ms: int = 0
    """When the job started (ms since the epoch): the ``time`` of its OCSF findings, the same after a resume."""
    version: int = MANIFEST_VERSION

    def save(self, path: pathlib.Path) -> None:
        """Write atomically: a reader sees the old manifest or the new one, never half of one."""
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(attrs.asdict(self), fh, indent=1, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: pathlib.Path) -> Manifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(
                f"resume: cannot read the manifest {str(path)!r} ({exc}); run again without --resume"
            ) from None

    def check_same_job(
        self,
        input_fingerprint: dict[str, Any],
        options: dict[str, Any],
        path: pathlib.Path,
        changed_chunk: Callable[[list[str]], int | None] | None = None,
    ) -> None:
        """A ValueError unless this manifest is for the same input and options.

        ``changed_chunk`` (where the job can tell) re-reads the committed chunks, given their digests, and
        returns the first one whose rows differ, or None: an input changed only after them (a fixed row)
        may be resumed.
        """
        if self.version != MANIFEST_VERSION:
            raise ValueError(
                f"resume: {str(path)!r} was written by another version (layout {self.version}, this "
                f"is {MANIFEST_VERSION}); run again without --resume"
            )
        if (
            self.input != input_fingerprint
            and changed_chunk is not None
            and len(self.chunk_digests) == self.chunks_done
            and self.input.get("path") == input_fingerprint.get("path")
        ):
            first = changed_chunk(self.chunk_digests)
            if first is not None:
                raise ValueError(
                    f"resume: the input's rows in committed chunk {first} changed since the interrupted "
                    "job read them; run again without --resume to start over"
                )
        elif self.input != input_fingerprint:
            was, now = self.input, input_fingerprint
            raise ValueError(
                f"resume: the input differs from the interrupted job's ({was.get('path')}, "
                f"{was.get('size')} bytes, hash {was.get('blake2b')}; now {now.get('path')}, "
                f"{now.get('size')} bytes, hash {now.get('blake2b')}); run again without --resume "
                "to start over"
            )
        changed = sorted(k for k in set(self.options) | set(options) if self.options.get(k) != options.get(k))
        if changed:
            detail = "; ".join(f"{k}: was {self.options.get(k)!r}, now {options.get(k)!r}" for k in changed[:5])
            raise ValueError(
                f"resume: the options differ from the interrupted job's ({detail}); pass the same "
                "options, or run again without --resume to start over"
            )
