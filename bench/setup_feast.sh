#!/usr/bin/env bash
# Create bench/.feast-venv with Feast 0.67 (DuckDB offline store; SQLite and Redis online stores).
# Idempotent: re-running only re-checks the install. Feast is never a project dependency.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.feast-venv"
FEAST_SPEC="${FEAST_SPEC:-feast[duckdb,redis]==0.67.*}"

if [[ ! -x "$VENV/bin/python" ]]; then
    python3.11 -m venv "$VENV"
fi
# Install only if feast 0.67 and the Redis client it needs are not already importable
# (an older venv made with feast[duckdb] alone lacks redis: this upgrades it in place).
if ! "$VENV/bin/python" -c 'import feast, redis, sys; sys.exit(0 if feast.__version__.startswith("0.67") else 1)' 2>/dev/null; then
    # (grep drops pip's noise about the machine's local file:// index mirrors)
    "$VENV/bin/python" -m pip install --quiet --upgrade pip 2> >(grep -v 'is ignored' >&2)
    "$VENV/bin/python" -m pip install --quiet "$FEAST_SPEC" 2> >(grep -v 'is ignored' >&2)
fi
"$VENV/bin/feast" version
