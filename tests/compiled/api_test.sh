#!/usr/bin/env bash
# The generated C API from C99 and C++17: the header compiles cleanly under
# -Wall -Wextra -Wpedantic -Werror, and bad arguments give error codes.
# usage: api_test.sh STRATA SOURCE_DIR WORK_DIR
set -euo pipefail
strata=$1
source_dir=$2
work=$3
mkdir -p "$work"
cat >"$work/tiny.strata" <<'NET'
network tiny
input 3x16x16
conv1: conv 8 3x3 pad=1 bias=false
bn1: batchnorm
relu
residual {
    conv 8 3x3 pad=1
    relu
}
maxpool 2x2
global_avgpool
flatten
fc: linear 10
softmax
NET
"$strata" compile "$work/tiny.strata" --target x86-64-linux-avx2-fma --name net -o "$work/net"
flags=(-Wall -Wextra -Wpedantic -Werror -I "$work")
cc -std=c99 "${flags[@]}" -x c "$source_dir/tests/harness/api_test.c" -x none "$work/net.a" \
    -lpthread -ldl -lm -o "$work/api_test_c"
c++ -std=c++17 "${flags[@]}" -x c++ "$source_dir/tests/harness/api_test.c" -x none "$work/net.a" \
    -lpthread -ldl -o "$work/api_test_cpp"
"$work/api_test_c"
"$work/api_test_cpp"
