#!/usr/bin/python3
"""Runs an example network through `strata run` and through torchvision, with
the same random weights and input, and compares the outputs.

usage: compare_network.py STRATA EXAMPLE.strata MODEL [--size N]

MODEL is a torchvision.models name. Weights are torchvision's random
initialisation (seeded); batch norm statistics and affine parameters are
randomised too, so that a layer that ignored them would show. The check is
max |strata - torch| <= 1e-4 * max |torch|, the project's tolerance.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
from export_torchvision import save_safetensors  # noqa: E402
from torchvision_case import compare, make_case  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("strata")
    parser.add_argument("network")
    parser.add_argument("model")
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()

    model, x, expected = make_case(args.model, args.size)
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "weights.safetensors")
        save_safetensors(model.state_dict(), weights)
        numpy.save(os.path.join(tmp, "input.npy"), x)
        command = [args.strata, "run", args.network, "--weights", weights,
                   "--input", os.path.join(tmp, "input.npy"),
                   "--output", os.path.join(tmp, "output.npy")]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            print(result.stderr, file=sys.stderr)
            print(f"FAIL {args.model}: strata run exited with {result.returncode}")
            return 1
        actual = numpy.load(os.path.join(tmp, "output.npy"))
    if actual.shape != expected.shape:
        print(f"FAIL {args.model}: shape {actual.shape}, torchvision gives {expected.shape}")
        return 1
    return 0 if compare(args.model, actual, expected) else 1


if __name__ == "__main__":
    sys.exit(main())
