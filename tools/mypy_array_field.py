"""A mypy plugin that tells mypy's attrs plugin ``deepaid_sdk.records.array_field()`` makes an attrs field.

Without it mypy takes ``x: np.ndarray = array_field()`` for an attribute with a default, so a
record's ``__init__`` is typed wrong (and a plain field after it is an error). This is the
"fake plugin" the attrs docs describe (https://www.attrs.org/en/stable/extending.html#mypy).
The ``dtype=`` converter stays invisible: such a field's ``__init__`` parameter is typed as the array.
"""

from __future__ import annotations

from mypy.plugin import Plugin
from mypy.plugins.attrs import attr_attrib_makers

attr_attrib_makers.add("deepaid_sdk.records.array_field")


class ArrayFieldPlugin(Plugin):
    """Does nothing itself: loading this module registers ``array_field`` with the attrs plugin."""


def plugin(version: str) -> type[Plugin]:
    return ArrayFieldPlugin
