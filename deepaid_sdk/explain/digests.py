"""Digests of input chunks: a resumed job checks that the rows it committed are the rows it reads now."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from deepaid_sdk.explain.sources import Source


def chunk_digest(table: Any) -> str:
    """A hash of one input chunk's values, column by column (not of its memory layout, which depends on how
    the reader's blocks fell): the same rows read again give the same digest."""
    import hashlib

    import pyarrow as pa

    digest = hashlib.blake2b(digest_size=16)
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        digest.update(f"{name}:{col.type}:{len(col)}:{col.null_count};".encode())
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
            digest.update(np.ascontiguousarray(col.to_numpy(zero_copy_only=False)).tobytes())
            digest.update(np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool).tobytes())
        elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_binary(col.type):
            digest.update(repr(col.cast(pa.binary()).to_pylist()).encode())  # bytes as read: never decoded
        else:
            digest.update(repr(col.to_pylist()).encode())
    return digest.hexdigest()


def changed_chunk(source: Source, committed: Sequence[str]) -> int | None:
    """The first committed chunk (digests ``committed``) whose input rows differ now in ``source``, or None."""
    for i, table in enumerate(source.chunks()):
        if i >= len(committed):
            return None
        if chunk_digest(table) != committed[i]:
            return i
    return None if not committed else len(committed) - 1  # the file now ends inside the committed part
