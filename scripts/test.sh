#!/usr/bin/env bash
# Every test: installs what the tests need when it is missing (real servers from Debian's
# packages — Redis, PostgreSQL — for the fixtures in crates/fixtures; Chromium for the
# browser tests; curl and h2load, clients nobody here wrote; python3 and its venv, for the
# clients the tests install from PyPI; nginx and haproxy, the proxies of the rolling-restart
# tests in crates/cli/tests/deploy.rs), then runs the workspace's tests. The README's test
# command, and what .ci/run calls after its checks.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/bin/redis-server ] || missing+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
command -v python3 >/dev/null || missing+=(python3)
# The Python tests' virtual environments (PyPI's websockets, openapi-spec-validator) need
# venv's pip, a package of its own on Debian.
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v curl >/dev/null || missing+=(curl)
command -v h2load >/dev/null || missing+=(nghttp2-client)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing+=(nginx)
[ -x /usr/sbin/haproxy ] || command -v haproxy >/dev/null || missing+=(haproxy)
# The Kubernetes manifest's check parses it with Debian's PyYAML.
/usr/bin/python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
[ -s /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]} (Debian packages)"
    if [ "$(id -u)" -ne 0 ]; then
        echo "run as root, or install them yourself: apt-get install ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== cargo test --workspace --no-fail-fast"
cargo test --workspace --no-fail-fast "$@"
