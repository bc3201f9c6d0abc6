#!/usr/bin/env bash
# build.sh: set up a Debian 12 machine, build nnjit, and train the iris example or run every test.
#   ./build.sh iris   install what is missing, build, train examples/iris.nn
#   ./build.sh test   install what is missing, build, run every test (ctest)
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(cmake ninja-build g++ llvm-19-dev libfmt-dev catch2 libcli11-dev nlohmann-json3-dev libbenchmark-dev)
BUILD_DIR=${NNJIT_BUILD_DIR:-build}

install_missing() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "build.sh: installing ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

build() {
  [ -f "$BUILD_DIR/build.ninja" ] || cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR"
}

case "${1:-}" in
  iris)
    install_missing
    build
    "$BUILD_DIR/tools/nnjit/nnjit" train examples/iris.nn
    ;;
  test)
    install_missing
    build
    ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)"
    ;;
  *)
    echo "usage: ./build.sh iris | test" >&2
    exit 2
    ;;
esac
