#!/usr/bin/env bash
# build.sh: set up a Debian 12 machine, build nnjit, and train the iris example or run every test.
#   ./build.sh iris   install what is missing, build, train examples/iris.nn
#   ./build.sh test   install what is missing, build, run every test (ctest), then the same
#                     suite under ASan+UBSan, then each fuzzer for a short time
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(cmake ninja-build g++ llvm-19-dev libfmt-dev catch2 libcli11-dev nlohmann-json3-dev libbenchmark-dev zlib1g-dev
          libopenmpi-dev openmpi-bin)
TEST_PACKAGES=(clang-19 libfuzzer-19-dev libclang-rt-19-dev graphviz dataset-fashion-mnist librsvg2-bin ccache)
BUILD_DIR=${NNJIT_BUILD_DIR:-build}

install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "build.sh: installing ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# build DIR [cmake options...]: configure once, then build incrementally.
build() {
  local dir=$1
  shift
  [ -f "$dir/build.ninja" ] || cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir"
}

case "${1:-}" in
  iris)
    install_missing "${PACKAGES[@]}"
    build "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
    "$BUILD_DIR/tools/nnjit/nnjit" train examples/iris.nn
    ;;
  test)
    install_missing "${PACKAGES[@]}" "${TEST_PACKAGES[@]}"
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
    # ccache serves the sanitized build the test code the plain build compiled (the same
    # command lines: tests/CMakeLists.txt), about a third of that build.
    build "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
    ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" | tee -a "$log"
    # The whole suite again under AddressSanitizer + UBSan (benchmarks are not tests).
    build "$BUILD_DIR-asan" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DNNJIT_SANITIZE=ON \
      -DNNJIT_BENCH=OFF
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir "$BUILD_DIR-asan" --output-on-failure -j "$(nproc)" | tee -a "$log"
    # libFuzzer needs clang: a third build of the libraries, then each fuzzer briefly.
    [ -f "$BUILD_DIR-fuzz/build.ninja" ] || CC=clang-19 CXX=clang++-19 cmake -S . -B "$BUILD_DIR-fuzz" -G Ninja \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNNJIT_FUZZ=ON -DBUILD_TESTING=OFF -DNNJIT_BENCH=OFF >/dev/null
    cmake --build "$BUILD_DIR-fuzz" --target FuzzFrontEnd FuzzCsv FuzzIdx FuzzSafetensors FuzzCheckpoint
    tests/fuzz/run.sh "${NNJIT_FUZZ_SECONDS:-30}" "$BUILD_DIR-fuzz"
    # One closing line for both ctest runs (a failure has already stopped the script).
    sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\)/\1 \2/p' "$log" |
      awk '{ failed += $1; total += $2 } END { printf "tests: %d passed, %d failed\n", total - failed, failed }'
    ;;
  *)
    echo "usage: ./build.sh iris | test" >&2
    exit 2
    ;;
esac
