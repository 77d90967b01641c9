"""The README's test command is exactly what CI runs, and the shipped configs are valid."""

import re
from pathlib import Path

import pytest

from ddsp_textures.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text):
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_ci_runs_exactly_the_readme_test_command():
    blocks = _bash_blocks((ROOT / "README.md").read_text())
    test_command = blocks[1]
    ci_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line and not line.startswith("#") and not line.startswith(("set ", "cd "))]
    assert ci_lines == [test_command]
    assert "pytest --nbval book/" in test_command and "jupyter-book build . -W -n --keep-going" in test_command


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.json")), ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    cfg = load_config(path)
    assert cfg.epochs >= 1 and cfg.param_per_env % 2 == 0
