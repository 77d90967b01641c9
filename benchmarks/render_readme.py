"""Render the results tables of ``benchmarks/README.md`` from ``results/*.md`` (which each benchmark writes
from its JSON): every table right after a line ``<!-- results: NAME -->`` is replaced by the first table of
``results/NAME.md``, so the README never restates a number by hand.

    python -m benchmarks.render_readme            # rewrite the README's marked tables
    python -m benchmarks.render_readme --check    # exit 1 if any marked table is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"
RESULTS = Path(__file__).resolve().parent / "results"
MARKER = re.compile(r"^<!-- results: ([\w-]+) -->$")


def first_table(text: str) -> list[str]:
    """The lines of the first Markdown table in ``text``."""
    lines, table = text.splitlines(), []
    for line in lines:
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    return table


def render(readme: str, results: Path = RESULTS) -> str:
    """``readme`` with each marked table replaced by its results file's first table."""
    lines, out, i = readme.splitlines(), [], 0
    while i < len(lines):
        out.append(lines[i])
        match = MARKER.match(lines[i])
        i += 1
        if match:
            table = first_table((results / f"{match.group(1)}.md").read_text())
            if not table:
                raise ValueError(f"results/{match.group(1)}.md has no table")
            while i < len(lines) and lines[i].startswith("|"):
                i += 1
            out.extend(table)
    return "\n".join(out) + ("\n" if readme.endswith("\n") else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the README is up to date")
    args = parser.parse_args()
    current = README.read_text()
    rendered = render(current)
    if args.check:
        sys.exit(0 if rendered == current else 1)
    README.write_text(rendered)


if __name__ == "__main__":
    main()
