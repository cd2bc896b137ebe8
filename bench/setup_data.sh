#!/usr/bin/env bash
# Generate shared benchmark data into bench/data/PRESET/ (idempotent: skipped if meta.json exists).
# Usage: bench/setup_data.sh PRESET    (tiny | small | medium | large)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PRESET="${1:?usage: setup_data.sh PRESET}"
OUT="$HERE/data/$PRESET"
GEN="${GEN_DATA:-$HERE/../../shared/bench/gen_data.py}"

if [[ -f "$OUT/meta.json" ]]; then
    echo "data for preset '$PRESET' already in $OUT"
    exit 0
fi
# The generator needs numpy + pyarrow: prefer the project venv, else the Feast venv.
PY=""
for cand in "$HERE/../.venv/bin/python" "$HERE/.feast-venv/bin/python"; do
    if [[ -x "$cand" ]] && "$cand" -c 'import numpy, pyarrow' 2>/dev/null; then PY="$cand"; break; fi
done
[[ -n "$PY" ]] || { echo "no python with numpy+pyarrow (run setup_feast.sh)" >&2; exit 1; }
mkdir -p "$OUT"
# Write to a temp dir first so an interrupted run never leaves a half dataset with meta.json.
TMP="$OUT.tmp.$$"
rm -rf "$TMP"
"$PY" "$GEN" --preset "$PRESET" --out "$TMP" >/dev/null
mv "$TMP"/* "$OUT"/ && rmdir "$TMP"
echo "generated preset '$PRESET' in $OUT"
