"""The README's example: seeded, so two separate processes print the same explanation, and the README shows it."""

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _example() -> tuple[str, str]:
    text = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(import torch.*?)```", text, re.S).group(1)
    printed = re.search(r"prints the two features.*?\n\n((?:    .*\n)+)", text).group(1)
    return code, "\n".join(line[4:] for line in printed.rstrip("\n").splitlines())


def _run(code: str, hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
                          cwd=ROOT).stdout.strip()


def test_readme_example_is_deterministic_across_processes_and_prints_what_the_readme_shows():
    code, shown = _example()
    assert "manual_seed" in code
    first, second = _run(code, "1"), _run(code, "2")
    assert first == second
    assert "2 changed" in first.splitlines()[0]
    assert first == shown


def test_user_guide_has_a_tabular_example_that_runs_and_names_the_cause():
    text = (ROOT / "docs" / "user-guide.md").read_text()
    section = text[text.index("## Tabular data"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert 'create("tabular"' in code
    out = _run(code, "0").splitlines()
    assert "reference normal" in out[0]
    assert out[3].split()[0] == "errors"  # the first changed feature is the one that was pushed
    assert "normal rows' range widened by 0.1" in out[-1]
