#!/usr/bin/python3
"""Runs every case of layer_cases.py through `strata run` and compares with PyTorch.

Usage: run_layer_cases.py STRATA_BINARY [--keep DIR] [NAME_SUBSTRING ...]

Prints one line per case and a summary, and exits 1 if any case failed: its
output differed from PyTorch's by more than 1e-4 * max(1, max|expected|), had
another shape, or strata exited non-zero. With --keep the cases and Strata's
outputs stay in DIR for a closer look; otherwise they live in a temporary
directory.
"""

import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layer_cases  # noqa: E402  (needs the path above)

RELATIVE_TOLERANCE = 1e-4
TIMEOUT_S = 60


def run_case(strata, directory, name):
    """Returns (passed, detail) for one case."""
    base = os.path.join(directory, name)
    command = [strata, "run", base + ".strata", "--weights", base + ".safetensors",
               "--input", base + ".input.npy", "--output", base + ".out.npy"]
    try:
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False, "strata run timed out after %d s" % TIMEOUT_S
    if result.returncode != 0:
        output = result.stdout.decode("utf-8", "replace").strip() or "(no output)"
        return False, "strata exited with %d:\n%s" % (result.returncode, output)

    expected = np.load(base + ".expected.npy")
    actual = np.load(base + ".out.npy")
    if actual.shape != expected.shape:
        return False, "shape %s, expected %s" % (actual.shape, expected.shape)
    diff = float(np.max(np.abs(actual.astype(np.float64) - expected)))
    bound = RELATIVE_TOLERANCE * max(1.0, float(np.max(np.abs(expected))))
    # A NaN anywhere makes diff NaN, and NaN <= bound is false.
    return diff <= bound, "max_abs_diff=%.3g (bound %.3g)" % (diff, bound)


def run_all(strata, directory, selected):
    names = layer_cases.generate(directory, selected)
    failed = 0
    for name in names:
        passed, detail = run_case(strata, directory, name)
        failed += not passed
        print("%s %s  %s" % ("ok" if passed else "FAIL", name, detail), flush=True)
    print("%d passed, %d failed" % (len(names) - failed, failed))
    if not names:
        print("no case matched %s" % " ".join(selected))
        return 1
    return 1 if failed else 0


def main(argv):
    if len(argv) < 2:
        print("usage: run_layer_cases.py STRATA_BINARY [--keep DIR] [NAME_SUBSTRING ...]",
              file=sys.stderr)
        return 2
    strata = os.path.abspath(argv[1])
    rest = argv[2:]
    if rest[:1] == ["--keep"]:
        if len(rest) < 2:
            print("--keep needs a directory", file=sys.stderr)
            return 2
        return run_all(strata, rest[1], rest[2:])
    with tempfile.TemporaryDirectory(prefix="strata_layer_cases_") as directory:
        return run_all(strata, directory, rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
