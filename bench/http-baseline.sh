#!/usr/bin/env bash
# HTTP baseline benchmark (issue 2): wrk against /healthz and the authenticated profile read (/api/v1/me) at 64
# and 512 connections, with a fresh SQLite instance started by `shenfen bench http-baseline`.
#
#   bench/http-baseline.sh                          # defaults: 10 s per run, 2 wrk threads, 64 and 512 connections
#   bench/http-baseline.sh --duration 30 --connections 64,256,512 --json /tmp/baseline.json
#
# Arguments are passed to `shenfen bench http-baseline` (see `--help` there). Installs wrk with apt if missing.
# CARGO_TARGET_DIR is respected (default: ./target).
set -euo pipefail

cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
    echo "wrk not found; installing it with apt-get" >&2
    sudo=""
    if [ "$(id -u)" != "0" ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk
fi

cargo build --release -p shenfen-server --bin shenfen
target="${CARGO_TARGET_DIR:-target}"
exec "$target/release/shenfen" bench http-baseline "$@"
