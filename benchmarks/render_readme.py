"""Render the results tables of ``benchmarks/README.md`` from ``results/*.md`` (which each benchmark writes
from its JSON): every table right after a line ``<!-- results: NAME -->`` is replaced by the first table of
``results/NAME.md`` (``<!-- results: NAME#2 -->``: its second table), so the README never restates a number by
hand.

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
MARKER = re.compile(r"^<!-- results: ([\w-]+)(?:#(\d+))? -->$")


def nth_table(text: str, n: int = 1) -> list[str]:
    """The lines of the ``n``-th Markdown table in ``text`` (1-based; empty if there are fewer)."""
    tables: list[list[str]] = []
    previous = False
    for line in text.splitlines():
        if line.startswith("|"):
            if not previous:
                tables.append([])
            tables[-1].append(line)
        previous = line.startswith("|")
    return tables[n - 1] if len(tables) >= n else []


def render(readme: str, results: Path = RESULTS) -> str:
    """``readme`` with each marked table replaced by its results file's first table."""
    lines, out, i = readme.splitlines(), [], 0
    while i < len(lines):
        out.append(lines[i])
        match = MARKER.match(lines[i])
        i += 1
        if match:
            n = int(match.group(2) or 1)
            table = nth_table((results / f"{match.group(1)}.md").read_text(), n)
            if not table:
                raise ValueError(f"results/{match.group(1)}.md has no table number {n}")
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
