#!/usr/bin/env bash
# The FastAPI peer: the chapter's service (app.py) on uvicorn with uvloop and httptools.
#
#   bench/peers/fastapi/run.sh PORT [WORKERS]
#   bench/peers/fastapi/run.sh --install-only
#
# Makes the virtualenv bench/out/venv on first use (installing requirements.txt) and reuses
# it afterwards: a stamp file records the hash of requirements.txt and the Python version, so
# the venv is rebuilt only when either changes, and a second start costs no pip call.
# Then execs uvicorn in the foreground (so the caller's pid is uvicorn's and a signal reaches
# it) on 127.0.0.1:PORT with WORKERS processes (default 1, as uvicorn's). --install-only
# stops after the venv, so a benchmark can install before it starts timing anything.
# /external calls $KAIROS_UPSTREAM (default: this server itself).
set -euo pipefail

usage() {
  echo "usage: $0 PORT [WORKERS] | $0 --install-only" >&2
  exit 2
}
install_only=false
case "${1:-}" in
  --install-only) [ $# -eq 1 ] || usage; install_only=true ;;
  '' | *[!0-9]*) usage ;;
  *) [ $# -le 2 ] || usage ;;
esac
port=${1:-}
workers=${2:-1}
case "$workers" in '' | *[!0-9]* | 0) usage ;; esac

here="$(cd "$(dirname "$0")" && pwd)"
venv="$(cd "$here/../.." && pwd)/out/venv"
python=${PYTHON:-python3}
stamp="$venv/.requirements.stamp"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1) $("$python" -c 'import sys; print(sys.version.split()[0])')"

if [ ! -x "$venv/bin/uvicorn" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "fastapi peer: installing requirements into $venv ..." >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt" >&2
  echo "$want" > "$stamp"  # last: an interrupted install is redone next time
fi
if $install_only; then
  exit 0
fi

cd "$here"
# uvicorn reads its default --workers from WEB_CONCURRENCY; app.py reads it too, to share the
# cores out among the workers' pools as kairos does.
export WEB_CONCURRENCY="$workers"
exec "$venv/bin/uvicorn" app:app --host 127.0.0.1 --port "$port" \
  --loop uvloop --http httptools --no-access-log --log-level warning --workers "$workers"
