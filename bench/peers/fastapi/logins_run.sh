#!/usr/bin/env bash
# Issue 16's FastAPI peer: logins_app.py on uvicorn with uvloop and httptools, one worker (as
# run.sh starts app.py).
#
#   bench/peers/fastapi/logins_run.sh PORT
#   bench/peers/fastapi/logins_run.sh --install-only
#
# Its own virtualenv, bench/out/venv-logins, made from logins_requirements.txt (app.py's
# requirements.txt plus passlib, argon2-cffi, python-multipart and PyJWT) on first use and
# rebuilt only when either file or the Python version changes (a stamp records their hashes).
# The users' SQLite file is $DATABASE_URL (sqlite:PATH; default sqlite:logins.db here).
set -euo pipefail

case "${1:-}" in
  --install-only) [ $# -eq 1 ] || { echo "usage: $0 PORT | $0 --install-only" >&2; exit 2; } ;;
  '' | *[!0-9]*) echo "usage: $0 PORT | $0 --install-only" >&2; exit 2 ;;
  *) [ $# -eq 1 ] || { echo "usage: $0 PORT | $0 --install-only" >&2; exit 2; } ;;
esac

here="$(cd "$(dirname "$0")" && pwd)"
venv="$(cd "$here/../.." && pwd)/out/venv-logins"
python=${PYTHON:-python3}
stamp="$venv/.requirements.stamp"
want="$(cat "$here/requirements.txt" "$here/logins_requirements.txt" | sha256sum | cut -d' ' -f1) $("$python" -c 'import sys; print(sys.version.split()[0])')"

if [ ! -x "$venv/bin/uvicorn" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "fastapi logins peer: installing requirements into $venv ..." >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/logins_requirements.txt" >&2
  echo "$want" > "$stamp"  # last: an interrupted install is redone next time
fi
if [ "$1" = --install-only ]; then
  exit 0
fi

cd "$here"
export WEB_CONCURRENCY=1
exec "$venv/bin/uvicorn" logins_app:app --host 127.0.0.1 --port "$1" \
  --loop uvloop --http httptools --no-access-log --log-level warning --workers 1
