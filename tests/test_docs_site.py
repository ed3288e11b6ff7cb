"""The documentation site builds with ``mkdocs build --strict``, and what its API reference shows is documented.

``mkdocs.yml``'s ``validation:`` makes a broken link, a link to a missing anchor and a page left out of the nav
a warning, which ``--strict`` turns into a failed build. mkdocstrings renders a member that has no docstring
without complaint, so the second test walks the same griffe tree the reference pages are drawn from and lists
every member they show without a docstring.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence

import griffe
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference"
COMMENTS = ROOT / "docs" / "ext" / "comment_docstrings.py"  # the griffe extension: `#:` comments as docstrings
DIRECTIVE = re.compile(r"^:::[ \t]+([\w.]+)", re.M)
LEVEL = re.compile(r"^(?:\x1b\[[\d;]*m)?(?:DEBUG|INFO|WARNING|ERROR)\b|^Aborted")  # a log line of mkdocs
PROBLEM = re.compile(r"^(?:\x1b\[[\d;]*m)?(?:WARNING|ERROR)\b")


def test_the_site_builds_strictly_with_no_warning(tmp_path):
    site = tmp_path / "site"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(site),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # no end-of-life banner in the output
    output, status = done.stdout + done.stderr, done.returncode
    problems = warnings_of(output)
    assert status == 0, (
        "mkdocs build --strict failed; its warnings and errors:\n"
        + "\n".join(problems)
        + "\n\nfull output (last 4000 characters):\n"
        + output[-4000:]
    )
    page = site / "reference" / "constraints" / "index.html"
    assert 'id="deepaid_sdk.constraints.BoxConstraint"' in page.read_text(), "the API reference was not drawn"


def test_every_member_the_api_reference_shows_has_a_docstring():
    options = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    python = next(p["mkdocstrings"] for p in options["plugins"] if isinstance(p, dict) and "mkdocstrings" in p)
    shown = python["handlers"]["python"]["options"]
    # shown_members() below mirrors these options; change both together
    assert (shown["filters"], shown["show_submodules"], shown.get("inherited_members", False)) == (
        ["!^_"],
        False,
        False,
    )
    drawn = load(referenced_objects(), [ROOT], [str(ROOT / path) for path in shown.get("extensions", [])])
    assert {"deepaid_sdk", "deepaid_sdk.constraints", "deepaid_sdk.search", "deepaid_sdk.results"} <= set(drawn)
    # a package whose __init__ imports its names without listing them in __all__ would show an empty page
    empty = [path for path, obj in drawn.items() if obj.is_module and not list(shown_members(obj))]
    assert not empty, f"reference pages that show no member (list the public names in __all__): {empty}"
    missing = undocumented(drawn.values())
    assert not missing, (
        f"{len(missing)} members shown in the API reference (docs/reference/) have no docstring; "
        "add one or two lines saying what and why:\n" + "\n".join(missing)
    )


def test_the_docstring_check_lists_exactly_the_shown_members_without_one(tmp_path):
    package = tmp_path / "fakepkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        '"""A package that re-exports."""\nfrom fakepkg.mod import Bare, helper\n'
        'from fakepkg.mod import Kept\n__all__ = ["Bare", "helper"]\n'
    )
    (package / "mod.py").write_text('''"""A module without __all__."""
from pathlib import Path

LIMIT = 3

WIDTH = 4
"""Documented constant."""

#: Documented the Sphinx way,
#: on two lines.
DEPTH = 5


def helper():
    pass


def _private():
    pass


class Kept:
    """Documented class."""

    field: int = 0

    def method(self):
        pass

    def _hidden(self):
        pass

    @property
    def size(self):
        return 1


class Bare:
    def ok(self):
        """Documented method."""
''')
    expected = [
        "fakepkg.mod.Bare  (fakepkg/mod.py:38)",
        "fakepkg.mod.Kept.method  (fakepkg/mod.py:27)",
        "fakepkg.mod.Kept.size  (fakepkg/mod.py:34)",
        "fakepkg.mod.LIMIT  (fakepkg/mod.py:4)",
        "fakepkg.mod.helper  (fakepkg/mod.py:14)",
    ]
    assert undocumented(load(["fakepkg", "fakepkg.mod"], [tmp_path], [str(COMMENTS)]).values()) == expected
    # without the extension, the `#:` comment is not a docstring to griffe
    assert undocumented(load(["fakepkg.mod"], [tmp_path]).values()) == sorted(
        expected + ["fakepkg.mod.DEPTH  (fakepkg/mod.py:11)"]
    )


def warnings_of(output: str) -> list[str]:
    """mkdocs' WARNING and ERROR messages, each with its continuation lines (a list of pages, a traceback)."""
    messages: list[str] = []
    inside = False
    for line in output.splitlines():
        if LEVEL.match(line):
            inside = bool(PROBLEM.match(line))
            if inside:
                messages.append(line)
        elif inside and line.strip():
            messages[-1] += "\n" + line
    return messages


def referenced_objects() -> list[str]:
    """What the reference pages draw (their ``::: path`` lines): modules, and objects a module page cannot show."""
    return sorted({name for page in REFERENCE.glob("*.md") for name in DIRECTIVE.findall(page.read_text())})


def shown_members(obj: griffe.Object) -> Iterator[griffe.Object | griffe.Alias]:
    """The members mkdocstrings renders under ``obj`` with this site's options.

    No name starting with an underscore (``__init__`` is merged into its class), no inherited member, no
    submodule, and in a module no imported name unless the module's ``__all__`` lists it.
    """
    for member in obj.members.values():
        if member.name.startswith("_") or (obj.is_module and member.is_alias and not member.is_public):
            continue
        if not member.is_module:
            yield member


def load(
    paths: Sequence[str], search_paths: Sequence[pathlib.Path], extensions: Sequence[str] = ()
) -> dict[str, griffe.Object]:
    """The griffe objects at ``paths``, loaded as mkdocstrings loads them (``extensions`` as mkdocs.yml names them)."""
    packages: dict[str, griffe.Module] = {}
    objects = {}
    for path in paths:
        top = path.split(".")[0]
        if top not in packages:
            packages[top] = griffe.load(
                top,
                search_paths=[str(p) for p in search_paths],
                docstring_parser="sphinx",
                extensions=griffe.load_extensions(*extensions),
            )
        objects[path] = packages[top] if path == top else packages[top][path.removeprefix(top + ".")]
    return objects


def undocumented(objects: Iterable[griffe.Object]) -> list[str]:
    """Each module, class, function, method, property and module attribute drawn from ``objects`` without a docstring.

    Attributes of classes (fields, class constants) are not required to have one: the class's docstring
    says what its fields mean.
    """
    seen: set[str] = set()
    missing: list[str] = []

    def visit(obj: griffe.Object) -> None:
        if obj.path in seen:  # a class re-exported by the package root is shown twice, listed once
            return
        seen.add(obj.path)
        class_attribute = obj.is_attribute and obj.parent.is_class and "property" not in obj.labels
        if not class_attribute and not (obj.docstring and obj.docstring.value.strip()):
            missing.append(f"{obj.path}  ({obj.relative_package_filepath.as_posix()}:{obj.lineno})")
        for member in shown_members(obj) if obj.is_module or obj.is_class else ():
            try:
                visit(member.final_target if member.is_alias else member)
            except griffe.AliasResolutionError:
                missing.append(f"{member.path}  (an alias mkdocstrings cannot resolve)")

    for obj in objects:
        visit(obj)
    return sorted(missing)
