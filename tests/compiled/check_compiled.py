#!/usr/bin/python3
"""Compiles an example network with `strata compile`, links the library into
the C harness, runs it, and compares its output with the reference
interpreter (`strata run`) and, for a torchvision model, with torchvision.

usage: check_compiled.py STRATA SOURCE_DIR NETWORK TARGET WORK_DIR
                         [--torchvision MODEL] [--size N] [--cc CC]
                         [--run-under COMMAND] [--repeats N]

A target this machine cannot run is linked with its cross compiler (--cc)
and run under an emulator (--run-under "qemu-aarch64 -L SYSROOT"). The
harness reruns the library --repeats times (20 by default), alternating all
threads and one, and requires the same output bit for bit and no thread left
over after a one-thread run; under qemu-user, whose own threads the process
also counts, pass --repeats 0 (the x86 targets check the same schedules).

Without --torchvision the weights are the compiler's He initialisation and
the input is seeded random noise. The library is compiled once and checked
against every ground truth available. max |diff| <= 1e-4 * max |expected|.
"""
import argparse
import os
import shlex
import subprocess
import sys

import numpy

TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(TESTS, "torch"))
sys.path.insert(0, os.path.join(TESTS, "..", "scripts"))


def run(command, label):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stdout + result.stderr, file=sys.stderr)
        raise SystemExit(f"FAIL {label}: {' '.join(command[:2])} exited with "
                         f"{result.returncode}")
    return result.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("strata")
    parser.add_argument("source_dir")
    parser.add_argument("network")
    parser.add_argument("target")
    parser.add_argument("work")
    parser.add_argument("--torchvision")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--cc", default="cc")
    parser.add_argument("--run-under", default="")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    from torchvision_case import compare

    os.makedirs(args.work, exist_ok=True)
    work = lambda name: os.path.join(args.work, name)  # noqa: E731
    source = os.path.join(args.source_dir, "examples", "networks", args.network + ".strata")
    label = f"{args.network} on {args.target}"
    weights = []
    expected_torch = None
    if args.torchvision:
        from export_torchvision import save_safetensors
        from torchvision_case import make_case
        model, x, expected_torch = make_case(args.torchvision, args.size)
        save_safetensors(model.state_dict(), work("weights.safetensors"))
        weights = ["--weights", work("weights.safetensors")]
    else:
        shape = run([args.strata, "stats", source, "--format", "json"], label)
        import json
        dims = json.loads(shape)["input_shape"]
        x = numpy.random.default_rng(7).standard_normal(dims).astype(numpy.float32)
    numpy.save(work("input.npy"), x)
    x.tofile(work("input.f32"))

    print(run([args.strata, "compile", source, "--target", args.target, "--name", "net",
               "-o", work("net")] + weights, label).strip())
    run([args.cc, "-std=c99", "-O1", "-I", args.work,
         os.path.join(TESTS, "harness", "run_network.c"), work("net.a"),
         "-lpthread", "-ldl", "-o", work("harness")], label)
    # Every thread of the machine, then more runs that must agree bit for bit.
    run(shlex.split(args.run_under) + [work("harness"), work("input.f32"), work("output.f32"),
                                        "0", str(args.repeats)], label)
    actual = numpy.fromfile(work("output.f32"), dtype=numpy.float32)

    run([args.strata, "run", source, "--input", work("input.npy"),
         "--output", work("reference.npy")] + weights, label)
    reference = numpy.load(work("reference.npy"))
    ok = compare(f"{label} against the reference interpreter", actual, reference)
    if expected_torch is not None:
        ok = compare(f"{label} against torchvision", actual, expected_torch) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
