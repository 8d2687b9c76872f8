#!/usr/bin/env bash
# PostgreSQL from Debian's `postgresql` package, for the state store tests. Installed only;
# the tests start their own throwaway server (tests/services/postgres.py), so none runs here.
set -euo pipefail

have_postgres() {
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && command -v runuser >/dev/null
}

if have_postgres; then
  echo "postgresql: installed ($(ls /usr/lib/postgresql | sort -V | tail -1))"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# refresh the package lists only when apt does not know the package yet
if ! apt-cache show postgresql >/dev/null 2>&1; then
  apt-get update -q
fi
apt-get install -y -q --no-install-recommends postgresql
have_postgres || { echo "postgresql: installed, but initdb was not found" >&2; exit 1; }
echo "postgresql: installed ($(ls /usr/lib/postgresql | sort -V | tail -1))"
