#!/usr/bin/env bash
# Create or update the project's virtual environment idempotently:
# reinstalls only when a requirements file changed (hash stamp in the venv).
set -euo pipefail
VENV=${1:-.venv}
REQ=${2:-requirements/dev.txt}

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY=$cand; break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "ensure_venv: Python 3.11 is required (the ROS 2 Jazzy wheels are cp311)." >&2
  echo "  sudo apt-get install -y python3.11 python3.11-venv python3.11-dev" >&2
  exit 1
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
stamp="$VENV/.facelm-requirements"
want=$(cat requirements/*.txt setup.py | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "ensure_venv: installing $REQ into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ" 2>&1 | grep -v '^WARNING: Location' || true
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 \
    | grep -v '^WARNING: Location' || true
  "$VENV/bin/python" -c 'import numpy, onnxruntime, rclpy, facelm' # fail loudly if the install is incomplete
  echo "$want" > "$stamp"
fi
