"""The README's Python examples run as written.

Every ```python block runs on its own, in a fresh namespace, from an empty working
directory. A block that needs what a test machine lacks (data sets, a cluster) is
marked by a ``<!-- no-test -->`` line right before it and only has to compile.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SKIP_MARK = "<!-- no-test -->"
_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[tuple[int, str, bool]]:
    """(line number, code, marked to skip) of each ```python block."""
    blocks = []
    for match in _BLOCK.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip().splitlines()
        skip = bool(before) and before[-1].strip() == SKIP_MARK
        blocks.append((line, match.group(1), skip))
    return blocks


BLOCKS = python_blocks(README.read_text())


def test_the_readme_has_python_examples():
    assert len([b for b in BLOCKS if not b[2]]) >= 4


def test_block_extraction_sees_marks_and_fences():
    text = "x\n```python\na = 1\n```\n\n<!-- no-test -->\n```python\nb = 2\n```\n```bash\nls\n```\n"
    assert python_blocks(text) == [(2, "a = 1\n", False), (7, "b = 2\n", True)]


@pytest.mark.parametrize("line, code, skip", BLOCKS, ids=[f"README.md:{b[0]}" for b in BLOCKS])
def test_readme_block_runs(line, code, skip, tmp_path, monkeypatch):
    compiled = compile(code, f"README.md:{line}", "exec")
    if skip:
        pytest.skip(f"marked {SKIP_MARK}")
    monkeypatch.chdir(tmp_path)
    exec(compiled, {"__name__": "__readme__"})
