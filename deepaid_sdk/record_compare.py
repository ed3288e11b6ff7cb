"""Compare explanation records (or result objects) with a tolerance on every float.

The same row explained in another batch, chunk or CPU rounds its float32 sums differently, so a
score or log-likelihood may differ in its last digits while ids, verdicts and changed features are
identical. This compares everything exactly except floats, which must agree within ``rel``/``abs``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if attrs.has(type(value)):
        return attrs.asdict(value, recurse=False)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _floats_close(a: float, b: float, rel: float, abs_: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def _differences(got: Any, expected: Any, where: str, rel: float, abs_: float) -> list[str]:
    got, expected = _plain(got), _plain(expected)
    if isinstance(got, bool) or isinstance(expected, bool):  # True == 1.0 in Python; not in a record
        same = type(got) is type(expected) and got == expected
        return [] if same else [f"{where}: {got!r} != {expected!r}"]
    both_numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (got, expected))
    if both_numbers and (isinstance(got, float) or isinstance(expected, float)):
        ok = _floats_close(float(got), float(expected), rel, abs_)
        return [] if ok else [f"{where}: {got!r} != {expected!r} (rel={rel}, abs={abs_})"]
    if isinstance(got, Mapping) and isinstance(expected, Mapping):
        if set(got) != set(expected):
            missing, extra = sorted(map(str, set(expected) - set(got))), sorted(map(str, set(got) - set(expected)))
            return [f"{where}: keys differ (missing {missing}, extra {extra})"]
        return [d for key in expected for d in _differences(got[key], expected[key], f"{where}[{key!r}]", rel, abs_)]
    if _is_sequence(got) and _is_sequence(expected):
        if len(got) != len(expected):
            return [f"{where}: length {len(got)} != {len(expected)}"]
        pairs = enumerate(zip(got, expected))
        return [d for i, (g, e) in pairs for d in _differences(g, e, f"{where}[{i}]", rel, abs_)]
    return [] if got == expected else [f"{where}: {got!r} != {expected!r}"]


def assert_records_close(got: Any, expected: Any, *, rel: float = 1e-5, abs: float = 1e-6) -> None:
    """Raise ``AssertionError`` naming each place where ``got`` and ``expected`` differ.

    Dicts, lists, tuples, numpy arrays, dataclasses and attrs classes are walked; floats agree within
    ``rel``/``abs``; everything else (ids, strings, booleans, integers, None) must be equal.
    """
    found = _differences(got, expected, "records", rel, abs)
    if found:
        shown = "\n  ".join(found[:10])
        more = f"\n  ... and {len(found) - 10} more" if len(found) > 10 else ""
        raise AssertionError(f"{len(found)} difference(s):\n  {shown}{more}")
