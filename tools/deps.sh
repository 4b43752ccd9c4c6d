#!/usr/bin/env bash
# Install the Debian 12 packages intervene needs to build, run and test.
# Idempotent: apt-get runs only when something is missing.
set -euo pipefail

# build: what building and running the server needs; test (default): also the test
# tooling (cmocka, pytest, jsonschema, clang for the fuzz targets, linters).
PKGS=(
  build-essential pkg-config meson ninja-build python3
  libevent-dev libjansson-dev libyaml-dev libsqlite3-dev libsodium-dev
  libcurl4-openssl-dev
  libcmark-gfm-dev libcmark-gfm-extensions-dev
  libcmocka-dev
)
if [ "${1:-test}" != build ]; then
  PKGS+=(
    clang libclang-rt-14-dev clang-format cppcheck git
    python3-pytest python3-jsonschema sqlite3 curl ca-certificates
    prometheus-alertmanager nginx-light chromium
  )
  # The browser tests run on Node.js (any recent one will do: the machine's own, or
  # Debian's when there is none).
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  # RUNLEVEL=1: packages that ship a service (nginx, alertmanager) must not start it;
  # the tests start their own instances.
  RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
