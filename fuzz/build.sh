#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build script. Uses only what the build environment gives:
# $CC/$CXX, $CFLAGS/$CXXFLAGS (sanitizer and coverage flags included), $LIB_FUZZING_ENGINE
# (how to link the engine) and $OUT (where fuzzers, dictionaries, options and seed corpora
# go). $WORK, if set, holds the build tree.
#
# Emulated locally:
#   CXX=clang++-14 CC=clang-14 LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT=/tmp/out \
#   CXXFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only -fsanitize=address -fsanitize=fuzzer-no-link" \
#   fuzz/build.sh
src=$(cd "$(dirname "$0")/.." && pwd)
build=${WORK:-/tmp}/loopcheck-fuzz-build
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

cmake -S "$src" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="${CC:-clang}" -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_C_FLAGS="${CFLAGS:-}" -DCMAKE_CXX_FLAGS="${CXXFLAGS:-}" \
  -DLOOPCHECK_FUZZ=OFF -DLIB_FUZZING_ENGINE="$LIB_FUZZING_ENGINE"

# fuzzers.txt is written from the FUZZERS list in fuzz/CMakeLists.txt.
for fuzzer in $(cat "$build/fuzz/fuzzers.txt"); do
  cmake --build "$build" --target "$fuzzer" -j"$(nproc)"
  cp "$build/fuzz/$fuzzer" "$OUT/"
  [ -f "$src/fuzz/$fuzzer.dict" ] && cp "$src/fuzz/$fuzzer.dict" "$OUT/"
  [ -f "$src/fuzz/$fuzzer.options" ] && cp "$src/fuzz/$fuzzer.options" "$OUT/"
  if [ -d "$src/fuzz/corpus/$fuzzer" ]; then
    rm -f "$OUT/${fuzzer}_seed_corpus.zip"
    zip -jq "$OUT/${fuzzer}_seed_corpus.zip" "$src/fuzz/corpus/$fuzzer"/*
  fi
done
