#!/usr/bin/env bash
# The strata command line as a user meets it: exit codes, help, messages.
# usage: cli_test.sh STRATA SOURCE_DIR
set -u
strata=$1
examples=$2/examples/networks
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# expect CODE PATTERN COMMAND...: runs COMMAND, checks its exit code and that
# its stdout+stderr matches the extended regular expression PATTERN.
expect() {
    local code=$1 pattern=$2
    shift 2
    local output status
    output=$("$@" 2>&1)
    status=$?
    if [ "$status" -eq "$code" ] && grep -Eq -- "$pattern" <<<"$output"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $* (exit $status, wanted $code and /$pattern/)"
        echo "$output" | head -n 10 | sed 's/^/    /'
    fi
}

expect 0 '^strata [0-9]+\.[0-9]+\.[0-9]+$' "$strata" --version
expect 0 'commands:' "$strata" --help
expect 2 'usage: strata COMMAND' "$strata"
expect 2 "unknown command 'compile-me'" "$strata" compile-me x.strata
expect 0 'usage: strata stats FILE.strata' "$strata" stats --help
expect 0 'format arg' "$strata" stats --help
expect 0 'weights arg' "$strata" run --help
expect 2 'missing the .strata file' "$strata" check
expect 2 "unrecognised option '--nope'" "$strata" check "$examples/alexnet.strata" --nope
expect 2 "--format must be 'table' or 'json'" "$strata" stats "$examples/alexnet.strata" --format xml
expect 2 'missing --input' "$strata" run "$examples/alexnet.strata" --output "$work/y.npy"
expect 1 "cannot open '$work/missing.strata'" "$strata" check "$work/missing.strata"

expect 0 'resnet18: ok, 69 layers, input 1x3x224x224, output 1x1000' \
    "$strata" check "$examples/resnet18.strata"
expect 0 'features.10 +conv\+relu +256x13x13' "$strata" stats "$examples/alexnet.strata"
expect 0 '"macs": 716767232' "$strata" stats "$examples/alexnet.strata" --format json

printf 'input 3x8x8\nconv 3x3 stride=2\n' >"$work/bad.strata"
expect 1 "bad.strata:2:6: error: conv expects an output channel count for 'out', got '3x3'" \
    "$strata" check "$work/bad.strata"
expect 1 '^ 2 \| conv 3x3 stride=2' "$strata" check "$work/bad.strata"
expect 1 '^   \|      \^~~$' "$strata" check "$work/bad.strata"

# run: He-initialised weights without --weights, an input without its batch axis
printf 'input 2x4x4\nc: conv 3 3x3 pad=1\nrelu\n' >"$work/tiny.strata"
/usr/bin/python3 -c "import numpy; numpy.save('$work/x.npy', numpy.ones((2, 4, 4), numpy.float32))"
expect 0 '' "$strata" run "$work/tiny.strata" --input "$work/x.npy" --output "$work/y.npy"
expect 0 'shape=\(1, 3, 4, 4\)' /usr/bin/python3 -c \
    "import numpy; y = numpy.load('$work/y.npy'); print(f'shape={y.shape}'); assert (y >= 0).all() and y.max() > 0"
expect 1 'the input has shape 1x3x4x4 but network .tiny. takes 1x2x4x4' "$strata" run \
    "$work/tiny.strata" --input "$work/y.npy" --output "$work/z.npy"
printf 'not a numpy file' >"$work/junk.npy"
expect 1 'junk.npy' "$strata" run "$work/tiny.strata" --input "$work/junk.npy" --output "$work/z.npy"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
