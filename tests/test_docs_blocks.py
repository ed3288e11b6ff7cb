"""Every code block of the README, docs/*.md and the plugin and contrib READMEs runs, and shows what it prints.

The convention (one for every Markdown file of the repository):

- ```python blocks run in order in one namespace per file; ```bash blocks run with ``bash -e -o pipefail``,
  the running interpreter's bin first on PATH (``.venv/bin/`` in a block means that bin), in the same
  temporary directory as the file's python blocks, so nothing is written into the repository;
- ``<!-- doc-test: skip: REASON -->`` on the line before a block skips it; the reason is required;
- ``<!-- doc-test: output -->`` before a ```text (or ```json) block makes it the expected printout of the
  python or bash block before it, compared token by token: words exactly, numbers within a relative 1e-3
  (absolute 1e-6 near zero), so the last float digit of a CPU's kernels never matters; ``...`` matches any
  run of tokens; whitespace and line breaks do not matter;
- ```toml and ```json blocks that are not outputs must parse; any other block must be marked skip.

Own small collector rather than sybil: the convention needs a tolerant token comparison, a required skip
reason and bash blocks sharing a directory with python blocks, which sybil would need custom parsers for
anyway, and it adds no dependency. ``pytest tests/test_docs_blocks.py --update-docs`` rewrites every output
block that no longer matches from a real run (timings printed then need a ``...`` by hand) (the lead's way
to regenerate the docs after a change of the printed records).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import pathlib
import re
import subprocess
import sys
import traceback

import attrs
import pytest
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC_GLOBS = ("README.md", "docs/*.md", "plugins/*/README.md", "contrib/*/README.md")
FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
MARKER = re.compile(r"<!--\s*doc-test:\s*(\w+)\s*(?::\s*(.*?))?\s*-->\s*\Z", re.S)
NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
TOKEN = re.compile(rf"\.\.\.|{NUMBER}|\w+|[^\w\s]")
RTOL, ATOL = 1e-3, 1e-6
INSTALLS = re.compile(r"\bpip3?\s+install\b|-m\s+pip\s+install\b")


@attrs.frozen
class Block:
    """One fenced block of a Markdown file: its language, code, line, and the marker on the line before it."""

    lang: str
    code: str
    line: int
    start: int
    end: int
    marker: str | None = None
    reason: str | None = None


def doc_files() -> list[pathlib.Path]:
    """Every Markdown file the convention covers."""
    return sorted({p for pattern in DOC_GLOBS for p in ROOT.glob(pattern)})


def parse_blocks(text: str) -> list[Block]:
    """The fenced blocks of ``text`` in order, each with the ``doc-test`` marker of the line just before it."""
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        blocks.append(
            Block(
                match.group(1).lower(),
                match.group(2),
                text.count("\n", 0, match.start()) + 1,
                match.start(2),
                match.end(2),
                marker and marker.group(1),
                marker and marker.group(2),
            )
        )
    return blocks


def _same_number(a: str, b: str) -> bool:
    x, y = float(a), float(b)
    return math.isclose(x, y, rel_tol=RTOL, abs_tol=ATOL)


def _token_match(shown: str, got: str) -> bool:
    if re.fullmatch(NUMBER, shown) and re.fullmatch(NUMBER, got):
        return _same_number(shown, got)
    return shown == got


def outputs_match(shown: str, got: str) -> bool:
    """Whether printed output ``got`` is what a doc shows: tokens equal, numbers within tolerance, ``...`` any."""
    want, have = TOKEN.findall(shown), TOKEN.findall(got)
    # reachable[j]: the first i tokens of ``want`` can match the first j tokens of ``have``
    reachable = [True] + [False] * len(have)
    for token in want:
        if token == "...":
            nxt, seen = [], False
            for ok in reachable:
                seen = seen or ok
                nxt.append(seen)
        else:
            nxt = [False] + [reachable[j] and _token_match(token, have[j]) for j in range(len(have))]
        reachable = nxt
    return reachable[-1]


def check_marker(block: Block, where: str) -> None:
    """A skip needs a reason; an unknown marker is a typo."""
    if block.marker not in (None, "skip", "output"):
        raise AssertionError(f"{where}: unknown doc-test marker {block.marker!r}; use 'skip: REASON' or 'output'")
    if block.marker == "skip" and not block.reason:
        raise AssertionError(f"{where}: '<!-- doc-test: skip -->' needs a reason: '<!-- doc-test: skip: WHY -->'")


class DocRun:
    """Runs one file's blocks in order in one directory and namespace, and collects the updated outputs."""

    def __init__(self, path: pathlib.Path, workdir: pathlib.Path) -> None:
        self.path, self.workdir = path, workdir
        self.namespace: dict = {"__name__": "__doc__"}
        self.bin = pathlib.Path(sys.executable).parent
        for name in ("docs", "plugins", "contrib"):  # repository paths a doc names, read-only use
            (workdir / name).symlink_to(ROOT / name)

    def python(self, code: str, where: str) -> str:
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.chdir(self.workdir):
                exec(compile(code, where, "exec"), self.namespace)
        except Exception:
            raise AssertionError(f"{where} failed:\n{traceback.format_exc()}\nprinted:\n{out.getvalue()}") from None
        return out.getvalue()

    def bash(self, code: str, where: str) -> str:
        if INSTALLS.search(code):
            raise AssertionError(
                f"{where}: a bash block that runs `pip install` would change the running environment (its editable "
                "installs would point at this temporary copy); mark it"
                " '<!-- doc-test: skip: installs a package -->'"
            )
        script = code.replace(".venv/bin/", f"{self.bin}/").replace("../.venv/bin/", f"{self.bin}/")
        env = {**os.environ, "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}", "DEEPAID_QUIET": "1"}
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode:
            raise AssertionError(f"{where} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done.stdout


def run_doc(path: pathlib.Path, workdir: pathlib.Path, update: bool) -> str | None:
    """Run every block of ``path``; check outputs, or return the text with outputs rewritten when ``update``."""
    text = path.read_text()
    run, printed, edits = DocRun(path, workdir), None, []
    for block in parse_blocks(text):
        where = f"{path.relative_to(ROOT)}:{block.line}"
        check_marker(block, where)
        if block.marker == "skip":
            printed = None
        elif block.marker == "output":
            if printed is None:
                raise AssertionError(f"{where}: an output block must follow a python or bash block that runs")
            if update and not outputs_match(block.code, printed):  # a block that still matches keeps its `...`
                edits.append((block.start, block.end, printed if printed.endswith("\n") else printed + "\n"))
            elif not outputs_match(block.code, printed):
                raise AssertionError(f"{where}: the block before prints\n{printed}\nbut the doc shows\n{block.code}")
            printed = None
        elif block.lang in ("python", "bash"):
            printed = (run.python if block.lang == "python" else run.bash)(block.code, where)
        elif block.lang == "json":
            json.loads(block.code)
        elif block.lang == "toml":
            tomllib.loads(block.code)
        else:
            raise AssertionError(
                f"{where}: a ```{block.lang or '(no language)'} block neither runs nor is checked; "
                "mark it '<!-- doc-test: skip: REASON -->' or '<!-- doc-test: output -->'"
            )
    for start, end, new in reversed(edits):
        text = text[:start] + new + text[end:]
    return text if update else None


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_blocks_run_and_print_what_the_doc_shows(path, tmp_path, request, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    new = run_doc(path, tmp_path, request.config.getoption("--update-docs", False))
    if new is not None:
        path.write_text(new)


def test_the_collector_covers_every_readme_and_doc():
    names = {str(p.relative_to(ROOT)) for p in doc_files()}
    assert {
        "README.md",
        "docs/user-guide.md",
        "docs/explain.md",
        "docs/plugin-authors.md",
        "plugins/deepaid-plugin-deeplog/README.md",
        "contrib/deepaid-plugin-template/README.md",
    } <= names


def test_outputs_compare_numbers_with_a_tolerance_and_words_exactly():
    assert outputs_match("score 0.0688172 -> 2 changed", "score  0.0688173\n-> 2 changed")
    assert not outputs_match("score 0.0688172 -> 2 changed", "score 0.0690 -> 2 changed")
    assert not outputs_match("score 0.06 -> 2 changed", "score 0.06 -> 2 kept")
    assert not outputs_match("2 changed", "2 changed extra")
    assert outputs_match('{"id":"a0","steps":0}', '{"id": "a0", "steps": 0}')
    assert outputs_match("explained 100 rows: ...; wrote x.jsonl", "explained 100 rows: 7 alerts; 3 s; wrote x.jsonl")
    assert not outputs_match("explained 100 rows: ...; wrote x.jsonl", "explained 100 rows: 7 alerts")
    assert outputs_match("1e-9", "0.0")


def test_markers_need_a_reason_and_an_output_needs_a_block_before_it(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("<!-- doc-test: skip -->\n```python\n1/0\n```\n")
    blocks = parse_blocks(doc.read_text())
    assert blocks[0].marker == "skip" and not blocks[0].reason
    with pytest.raises(AssertionError, match="needs a reason"):
        check_marker(blocks[0], "x.md:2")
    reasoned = parse_blocks("<!-- doc-test: skip: a fragment -->\n```python\n1/0\n```\n")[0]
    assert reasoned.reason == "a fragment"


def test_a_wrong_output_and_an_unmarked_block_fail(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    doc = tmp_path / "x.md"
    doc.write_text("```python\nprint(0.5)\n```\n<!-- doc-test: output -->\n```text\n0.6\n```\n")
    with pytest.raises(AssertionError, match="but the doc shows"):
        run_doc(doc, _fresh(tmp_path / "w1"), update=False)
    assert "0.5\n" in run_doc(doc, _fresh(tmp_path / "w2"), update=True)
    doc.write_text("```\nsomething\n```\n")
    with pytest.raises(AssertionError, match="neither runs nor is checked"):
        run_doc(doc, _fresh(tmp_path / "w3"), update=False)
    doc.write_text("```bash\necho hi > f.txt; cat f.txt\n```\n<!-- doc-test: output -->\n```text\nhi\n```\n")
    run_doc(doc, _fresh(tmp_path / "w4"), update=False)
    assert (tmp_path / "w4" / "f.txt").exists()


def _fresh(path: pathlib.Path) -> pathlib.Path:
    path.mkdir()
    return path


@pytest.mark.parametrize(
    "code", ["pip install -e contrib/deepaid-baselines", "python -m pip install x", "ls && pip3 install y"]
)
def test_a_block_that_would_install_into_the_running_environment_is_refused(code, tmp_path):
    with pytest.raises(AssertionError, match="pip install"):
        DocRun(ROOT / "README.md", tmp_path).bash(code, "doc.md:1")
