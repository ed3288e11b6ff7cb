"""The README's example: seeded, so two separate processes print the same explanation on one machine.

What it prints is checked against the README, with a tolerance, by tests/test_docs_blocks.py.
"""

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _example() -> str:
    text = (ROOT / "README.md").read_text()
    return re.search(r"```python\n(import torch.*?)```", text, re.S).group(1)


def _run(code: str, hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=ROOT
    ).stdout.strip()


def test_readme_example_is_deterministic_across_processes_and_names_the_pushed_features():
    code = _example()
    assert "manual_seed" in code
    first, second = _run(code, "1"), _run(code, "2")
    assert first == second  # same machine, same kernels: the same digits
    lines = first.splitlines()
    assert "2 changed" in lines[0] and "reference normal" in lines[0]
    assert sorted(line.split()[0] for line in lines[3:]) == ["11", "4"]  # the two features that were pushed


def test_user_guide_has_a_tabular_example_that_runs_and_names_the_cause():
    text = (ROOT / "docs" / "user-guide.md").read_text()
    section = text[text.index("## Tabular data") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert 'create("tabular"' in code
    out = _run(code, "0").splitlines()
    assert "reference normal" in out[0]
    assert out[3].split()[0] == "errors"  # the first changed feature is the one that was pushed
    assert "normal rows' range widened by 0.1" in out[-1]
