#!/usr/bin/env bash
# Build intervene and run it on its embedded defaults: SQLite (./intervene.db),
# listening on 127.0.0.1:8080. In tokens mode the first start prints
# "admin token: <token>" on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh build
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
exec ./build/intervene serve "$@"
