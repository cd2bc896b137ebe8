"""`pitstore push`: rows from a JSON or JSON Lines file, through the installed entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from push_helpers import event, logged_rows, make_repo, push_source

PITSTORE = str(Path(sys.executable).parent / "pitstore")
SRC = str(Path(__file__).resolve().parents[1] / "src")  # run this tree's code, not the install's


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": str(cwd), "PYTHONPATH": SRC}
    return subprocess.run(
        [PITSTORE, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env
    )


def test_push_json_lines_then_a_bad_file(tmp_path: Path) -> None:
    make_repo(tmp_path, push_source()).close()
    lines = tmp_path / "rows.jsonl"
    lines.write_text("\n".join(json.dumps(event(i, 0)) for i in range(3)) + "\n")
    done = run("push", "driver_push", str(lines), "--to", "online_and_offline", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Pushed 3 rows" in done.stdout and "3 logged offline" in done.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([event(9, 0), {**event(10, 0), "trips": 1.5}]))
    failed = run("push", "driver_push", str(bad), "--to", "offline", cwd=tmp_path)
    assert failed.returncode == 1
    assert "row 1" in failed.stderr and "trips" in failed.stderr
    assert len(logged_rows(tmp_path)) == 3
    missing = run("push", "driver_push", "no_such.json", cwd=tmp_path)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "cannot read rows from no_such.json" in missing.stderr
