#!/usr/bin/env bash
# Lint, render and validate charts/maitre without a helm binary or a cluster (`make chart-check`).
# Keeps the pinned tools of charts/requirements.txt in a venv outside the repo
# (${MAITRE_CHART_VENV:-$HOME/.cache/maitre-chart-venv}) and reinstalls them only when that
# file changes; then runs charts/check.py, which prints one line per check and exits non-zero
# on any failure.
# MAITRE_CHART_CHECK_OPTIONAL=1 turns "the tools cannot run here" (no python3 >= 3.10, not
# Linux x86_64) into a skip with exit 0, for CI machines without them. Chart failures still fail.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${MAITRE_CHART_VENV:-$HOME/.cache/maitre-chart-venv}"
python="${PYTHON:-python3}"
stamp="$venv/.maitre-requirements.sha256"

unavailable() {
  if [[ "${MAITRE_CHART_CHECK_OPTIONAL:-0}" == 1 ]]; then
    echo "chart-check: SKIPPED: $1"
    exit 0
  fi
  echo "chart-check: $1" >&2
  exit 2
}

command -v "$python" >/dev/null || unavailable "$python not found"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || unavailable "needs Python >= 3.10"
[[ "$(uname -s)/$(uname -m)" == Linux/x86_64 ]] || unavailable "helm-python-sdk ships for Linux x86_64 only"

# (Re)create the venv when it is missing or its interpreter no longer runs.
if ! "$venv/bin/python" -c '' 2>/dev/null; then
  "$python" -m venv --clear "$venv"
  rm -f "$stamp"
fi

want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" >"$stamp"
fi

exec "$venv/bin/python" "$here/check.py"
