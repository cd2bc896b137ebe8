"""Shared pieces of the benchmark scripts: data set-up, child-process timing, tables."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
DATA = BENCH / "data"
FEAST_PY = BENCH / ".feast-venv" / "bin" / "python"


def ensure_data(preset: str) -> Path:
    """The shared generator's data for ``preset`` (generated on first use)."""
    folder = DATA / preset
    if not (folder / "meta.json").exists():
        subprocess.run(["bash", str(BENCH / "setup_data.sh"), preset], check=True)
    return folder


def ensure_feast() -> bool:
    """Whether the Feast 0.67 environment is there (created on first use)."""
    if not FEAST_PY.exists():
        result = subprocess.run(["bash", str(BENCH / "setup_feast.sh")], check=False)
        return result.returncode == 0 and FEAST_PY.exists()
    return True


def peak_rss_mib() -> float:
    """Peak RSS of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(figures: dict[str, Any]) -> None:
    """Print a child's figures as the last stdout line (JSON)."""
    print(json.dumps(figures), flush=True)


def run_child(args: Sequence[str], python: str = sys.executable) -> dict[str, Any]:
    """Run a child measurement and return the JSON object on its last stdout line."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    out = subprocess.run([python, *args], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (printed, and pasted into RESULTS.md)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
