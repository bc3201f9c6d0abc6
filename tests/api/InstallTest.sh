#!/bin/sh
# InstallTest: installs nnjit into a temporary prefix, runs the installed
# `nnjit` binary, builds examples/embed against it as an outside CMake
# project, and runs that.
# Usage: InstallTest.sh SOURCE_DIR BUILD_DIR CMAKE_COMMAND
set -eu
src=$1 build=$2 cmake=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nnjit-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$cmake" --install "$build" --prefix "$tmp/prefix" --component nnjit >"$tmp/install.log"
test -f "$tmp/prefix/include/nnjit/nnjit.h"
test -f "$tmp/prefix/lib/cmake/nnjit/nnjitConfig.cmake" || test -f "$tmp/prefix/lib64/cmake/nnjit/nnjitConfig.cmake"
# The command line, runnable from the prefix alone (it finds ../lib/libnnjit.so).
test -x "$tmp/prefix/bin/nnjit"
"$tmp/prefix/bin/nnjit" --version | grep -q '^nnjit '
cp "$src/examples/quadratic.nn" "$tmp/quadratic.nn"
(cd "$tmp" && env -u LD_LIBRARY_PATH "$tmp/prefix/bin/nnjit" train quadratic.nn --epochs 2 >"$tmp/train.log")
grep -q '^done: 2 epochs' "$tmp/train.log" || { cat "$tmp/train.log"; exit 1; }
# Nothing internal may leak into the installed headers.
if grep -rE '#include "|<llvm/' "$tmp/prefix/include/nnjit"; then
  echo "installed headers include internal headers" >&2
  exit 1
fi

generator=
if command -v ninja >/dev/null 2>&1; then generator="-G Ninja"; fi
# The consumer sees only the install prefix: no LLVM, no nnjit source tree.
"$cmake" -S "$src/examples/embed" -B "$tmp/embed" $generator -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/configure.log" || { cat "$tmp/configure.log"; exit 1; }
"$cmake" --build "$tmp/embed" >"$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
"$tmp/embed/nnjit_embed"
