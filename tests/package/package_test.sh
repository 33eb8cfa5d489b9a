#!/usr/bin/env bash
# Installs Strata into a fresh prefix and builds a user's project against it
# with find_package(Strata) and strata_add_network(); then edits the network
# description and checks that the library is rebuilt.
# usage: package_test.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -euo pipefail
build=$1
source_dir=$2
work=$3
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cp -r "$source_dir/tests/package" "$work/project"
cmake -S "$work/project" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build"
"$work/build/use_tiny"
grep -q 'TINY_OUTPUT_SHAPE { 1, 2 }' "$work/build/strata/tiny/tiny.h"

# A changed description is recompiled on the next build.
sed -i 's/linear 2/linear 3/' "$work/project/tiny.strata"
cmake --build "$work/build" >/dev/null
grep -q 'TINY_OUTPUT_SHAPE { 1, 3 }' "$work/build/strata/tiny/tiny.h"
"$work/build/use_tiny"
echo "ok: installed package, strata_add_network, rebuild on change"
