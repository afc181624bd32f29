"""The README's usage sample runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_usage_sample_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The python block in the README executes and its assertions hold."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text("utf-8"), re.S)
    assert blocks, "README has no python sample"
    exec(compile(blocks[0], str(README), "exec"), {})
    assert "refused:" in capsys.readouterr().out
