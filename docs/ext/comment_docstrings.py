"""A griffe extension for the API reference: the ``#:`` comment above an attribute is its docstring.

The code documents constants and attributes the way Sphinx reads them, with ``#: what it is`` on the
lines just above the assignment. griffe (which mkdocstrings draws the reference from) reads only string
literals, so without this the reference would show those attributes bare. A string docstring, where one
follows the assignment, wins.
"""

from __future__ import annotations

from typing import Any

import griffe


class CommentDocstrings(griffe.Extension):
    """Gives an attribute without a docstring the ``#:`` comment lines right above it."""

    def on_attribute_instance(self, *, node: Any, attr: griffe.Attribute, agent: Any, **kwargs: Any) -> None:
        """Attach the comment as the attribute's docstring, parsed like the others."""
        if attr.docstring is not None or attr.lineno is None or not isinstance(agent, griffe.Visitor):
            return
        lines = agent.code.splitlines()
        first = attr.lineno - 1  # 0-based index of the assignment; the comment ends on the line above
        while first > 0 and lines[first - 1].lstrip().startswith("#:"):
            first -= 1
        comment = [line.lstrip()[2:].removeprefix(" ") for line in lines[first : attr.lineno - 1]]
        if comment:
            attr.docstring = griffe.Docstring(
                "\n".join(comment),
                lineno=first + 1,
                endlineno=attr.lineno - 1,
                parent=attr,
                parser=agent.docstring_parser,
                parser_options=agent.docstring_options,
            )
