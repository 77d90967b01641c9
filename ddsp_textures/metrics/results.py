"""Benchmark result files (``benchmarks/results/NAME.json``) read with their schema checked: the book's tables
and the README's come from these files, so a renamed column must fail with its name, not as a ``KeyError``
deep in a table cell (book chapters *P-VAE synth* and *Reproducing the thesis*).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


class ResultsError(ValueError):
    """A result file that is missing, not JSON, or lacks a column the reader needs."""


@dataclass
class Results:
    """A benchmark's rows (one dict per measurement) and the machine it ran on."""

    rows: list[dict]
    machine: dict = field(default_factory=dict)


def load_results(path: str | Path, columns: Iterable[str] = ()) -> Results:
    """The rows of a benchmark result file, each checked to have every one of ``columns``.

    The file is what a benchmark's ``write_results`` writes: ``{"machine": {...}, "rows": [{...}, ...]}``.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "demo.json"
    >>> _ = path.write_text('{"machine": {}, "rows": [{"texture": "fire", "kad": 1.5}]}')
    >>> load_results(path, ["texture", "kad"]).rows
    [{'texture': 'fire', 'kad': 1.5}]
    >>> try:
    ...     load_results(path, ["mel_fd"])
    ... except ResultsError as err:
    ...     print(err)
    demo.json: row 0 (fire) has no column 'mel_fd'; rerun the benchmark that writes it
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise ResultsError(f"{path.name}: cannot read it ({err.strerror or err}); run the benchmark that writes "
                           f"it (see benchmarks/README.md)") from None
    except json.JSONDecodeError as err:
        raise ResultsError(f"{path.name}: not JSON ({err.msg} at line {err.lineno})") from None
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ResultsError(f"{path.name}: expected {{'machine': ..., 'rows': [{{...}}, ...]}}")
    columns = list(columns)
    for i, row in enumerate(rows):
        missing = [c for c in columns if c not in row]
        if missing:
            label = next((str(row[k]) for k in ("texture", "recording", "model", "name") if k in row), "?")
            raise ResultsError(f"{path.name}: row {i} ({label}) has no column {missing[0]!r}; rerun the benchmark "
                               f"that writes it")
    machine = data.get("machine")
    return Results(rows, machine if isinstance(machine, dict) else {})


def percent_change(value: float, reference: float) -> str:
    """``value`` against ``reference`` as a signed whole percentage, as the result tables print it.

    >>> percent_change(7.2, 10.0), percent_change(10.5, 10.0)
    ('-28 %', '+5 %')
    """
    return f"{100 * (value / reference - 1):+.0f} %"
