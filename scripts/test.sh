#!/usr/bin/env bash
# The whole test suite: unit, property, storage conformance (SQLite + PostgreSQL), HTTP and browser tests.
# Sets up what the tests need on a fresh Debian machine (Chromium + ChromeDriver, a PostgreSQL test database)
# when it can; outside CI, what it cannot set up is skipped with a visible message. Under CI=true nothing may skip.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing chromium and chromium-driver for the browser tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    say "NOTE: chromium / chromium-driver are not installed: browser tests will be skipped"
  fi
fi

# nginx for the scale-out test (three instances behind the balancer configured from deploy/nginx/).
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing nginx for the scale-out test"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
  else
    say "NOTE: nginx is not installed: the scale-out test will be skipped"
  fi
fi

if [ -z "${SHENFEN_TEST_POSTGRES_URL:-}" ]; then
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && command -v pg_ctlcluster >/dev/null 2>&1; then
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
  if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    # A fresh database per run; each test makes its own schema inside it.
    psql -h 127.0.0.1 -U postgres -q -c "DROP DATABASE IF EXISTS shenfen_test WITH (FORCE)" -c "CREATE DATABASE shenfen_test" postgres
    export SHENFEN_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/shenfen_test"
  else
    say "NOTE: no PostgreSQL at 127.0.0.1:5432: PostgreSQL tests will be skipped"
  fi
fi

say "cargo test --workspace"
cargo test --workspace --locked "$@"
