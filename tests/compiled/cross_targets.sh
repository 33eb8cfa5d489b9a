#!/usr/bin/env bash
# Libraries for the targets this machine cannot run natively: 64-bit ARM and
# CUDA. Checks that each compiles, exports the C API and embeds one Halide
# runtime. (The ARM libraries of every example also run under qemu, in the
# compiled_*_arm-64-linux tests; running CUDA needs a GPU.)
# usage: cross_targets.sh STRATA SOURCE_DIR WORK_DIR
set -euo pipefail
strata=$1
work=$3
mkdir -p "$work"
# Between them, the two networks use dense and depthwise convs,
# pooling, linear, concat, slice and shuffle kernels.
for network in mobilenet_v2 shufflenet_v2_x1_0; do
for target in arm-64-linux x86-64-linux-cuda; do
    "$strata" compile "$2/examples/networks/$network.strata" --target "$target" --name net \
        -o "$work/$target"
    symbols=$(nm -g --defined-only "$work/$target.a")
    for api in net_run net_run_with_workspace net_workspace_size net_set_num_threads \
               net_last_error; do
        grep -qw "$api" <<<"$symbols" || { echo "FAIL $target: $api is not exported"; exit 1; }
    done
    runtimes=$(grep -cw halide_set_error_handler <<<"$symbols" || true)
    [ "$runtimes" -eq 1 ] || { echo "FAIL $target: $runtimes Halide runtimes"; exit 1; }
    grep -q '#define NET_INPUT_SHAPE { 1, 3, 224, 224 }' "$work/$target.h"
    echo "ok $network $target: $(stat -c %s "$work/$target.a") bytes"
done
done
