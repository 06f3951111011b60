#!/bin/sh
# MediaPipe's own Python pipeline (PyPI mediapipe==0.10.14: face detection + face mesh) timed on the
# same images as `shenfen bench photo`, pinned to one core like the Rust benchmark.
#
#   bench/photo/mediapipe_compare.sh
#       full comparison: runs the Rust benchmark, which calls this script back with its images and
#       prints Rust vs MediaPipe medians and their ratio.
#   bench/photo/mediapipe_compare.sh [--iterations N] FILE...
#       MediaPipe only; one JSON object on the last line: {"per_file_ms": {"FILE": [ms, ...]}, ...}
#
# Environment: MEDIAPIPE_VENV (default bench/photo/.venv), SHENFEN_PHOTO_BENCH (command that runs the
# Rust benchmark; default: the release `shenfen bench photo`).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
VENV=${MEDIAPIPE_VENV:-$HERE/.venv}
PIN=""
if command -v taskset >/dev/null 2>&1; then PIN="taskset -c 0"; fi
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import mediapipe" 2>/dev/null; then
    echo "creating venv $VENV with mediapipe==0.10.14 ..." >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "mediapipe==0.10.14" >&2
fi
if [ $# -gt 0 ]; then
    export OMP_NUM_THREADS=1 TF_NUM_INTEROP_THREADS=1 TF_NUM_INTRAOP_THREADS=1
    exec $PIN "$VENV/bin/python" "$HERE/mediapipe_compare.py" "$@"
fi
ROOT=$(cd "$HERE/../.." && pwd)
if [ -n "${SHENFEN_PHOTO_BENCH:-}" ]; then
    exec $PIN $SHENFEN_PHOTO_BENCH --mediapipe-script "$HERE/mediapipe_compare.sh"
fi
cargo build --release -q --manifest-path "$ROOT/Cargo.toml" -p shenfen-server --bin shenfen
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
exec $PIN "$TARGET/release/shenfen" bench photo --mediapipe-script "$HERE/mediapipe_compare.sh"
