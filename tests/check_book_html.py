"""Check the built book as a reader sees it: every chapter page shows at least as many images as it has code
cells that show a figure, and no chapter with figures renders none (a figure that failed to render — e.g. a
library call that switched the matplotlib backend — is invisible to nbval); likewise every table — written in
the text or displayed by a cell as Markdown — is an HTML table, not a paragraph of pipes; and a chapter with
formulas loads MathJax from the book itself (``_static/mathjax``, so formulas render without a network).

    python tests/check_book_html.py [_build/html]

Run after ``jupyter-book build .``; exits 1 with one line per failing chapter.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOWS_FIGURE = re.compile(r"^(plt\.show\(\)|fig\.show\(\)|display\(fig\b)", re.M)
IMAGE = re.compile(r"<img[^>]+src=\"[^\"]*_images/")
SHOWS_TABLE = re.compile(r"^display\(Markdown\(", re.M)
TABLE_RULE = re.compile(r"^\|\s*:?-{3,}", re.M)
HAS_MATH = re.compile(r"\$[^$\n]+\$|^\$\$", re.M)
MATHJAX = re.compile(r"<script[^>]+src=\"([^\"]*mathjax[^\"]*)\"")


def figure_cells(chapter: Path) -> int:
    """Code cells that show a figure at top level (figures drawn inside interactive widgets are not counted)."""
    import jupytext

    cells = jupytext.read(chapter).cells
    return sum(1 for c in cells if c.cell_type == "code" and SHOWS_FIGURE.search(c.source))


def table_count(chapter: Path) -> int:
    """Tables in the text plus code cells that display a Markdown table."""
    import jupytext

    cells = jupytext.read(chapter).cells
    return sum(len(TABLE_RULE.findall(c.source)) if c.cell_type == "markdown" else
               len(SHOWS_TABLE.findall(c.source)) for c in cells)


def main(html_root: Path) -> int:
    failures = []
    for chapter in sorted((ROOT / "book").glob("*.md")):
        expected, tables = figure_cells(chapter), table_count(chapter)
        has_math = bool(HAS_MATH.search(chapter.read_text(encoding="utf-8")))
        if expected == 0 and tables == 0 and not has_math:
            continue
        page = html_root / "book" / f"{chapter.stem}.html"
        if not page.is_file():
            failures.append(f"{page}: missing (was the book built?)")
            continue
        html = page.read_text(encoding="utf-8")
        if has_math:
            scripts = MATHJAX.findall(html)
            local = [src for src in scripts if not src.startswith(("http:", "https:", "//"))
                     and (page.parent / src.split("?")[0]).is_file()]       # "?v=…": Sphinx's cache buster
            if not local:
                failures.append(f"{page.name}: has formulas but no local MathJax script (found {scripts})")
        found, found_tables = len(IMAGE.findall(html)), html.count("<table")
        print(f"{chapter.name}: {found} images for {expected} figure cells, {found_tables} tables for {tables}")
        if found < expected:
            failures.append(f"{page.name}: {found} rendered images, but {chapter.name} shows {expected} figures")
        if found_tables < tables:
            failures.append(f"{page.name}: {found_tables} HTML tables, but {chapter.name} has {tables}")
    for line in failures:
        print(f"error: {line}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "_build" / "html"))
