#!/usr/bin/python3
"""Strata against PyTorch on this machine, in one run, as ratios.

usage: compare_pytorch.py [--strata PATH] [--networks a,b,...] [--threads 1,2]
                          [--runs N] [--per-layer a,b,...]

For every network and thread count: PyTorch's median latency
(torchvision model, TorchScript frozen with torch.jit.optimize_for_inference,
the fair baseline on Debian's build), `strata bench`'s median latency, the
speed-up (PyTorch ms / Strata ms), Strata's GFLOP/s and its share of the FMA
peak that `strata bench --peak` measures on the same threads, PyTorch's share
of that peak, and the floor set by reading every weight once at the measured
memory bandwidth. Both run
with random weights of the same shapes; speed does not depend on the values.
With --per-layer, Strata's per-layer table (1 thread) follows for the networks
named: every layer's median time, GFLOP/s and share of the FMA peak, under
a header that also gives what the conv register tile reaches with its data
in L1, the most a conv layer can reach with it.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torchvision

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SIZES = {"alexnet": 227}
TORCHVISION = ["alexnet", "vgg16", "resnet18", "resnet34", "resnet50", "mobilenet_v2",
               "shufflenet_v2_x1_0"]


def torch_median_ms(name, threads, runs):
    torch.set_num_threads(threads)
    size = SIZES.get(name, 224)
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        model = torch.jit.optimize_for_inference(torch.jit.script(model))
        for _ in range(3):
            model(x)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def strata_bench(strata, name, threads, runs, per_layer=False):
    source = os.path.join(ROOT, "examples", "networks", name + ".strata")
    command = [strata, "bench", source, "--threads", str(threads), "--runs", str(runs),
               "--peak", "--format", "json"] + (["--per-layer"] if per_layer else [])
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def print_layers(strata, name, runs):
    bench = strata_bench(strata, name, 1, runs, per_layer=True)
    peak = bench["peak_gflops"]
    print(f"\n{name}, 1 thread, per layer (FMA peak {peak:.1f} GFLOP/s; the conv register "
          f"tile with its data in L1: {bench['tile_gflops']:.1f}, "
          f"{100 * bench['tile_gflops'] / peak:.1f}% of it)")
    print(f"{'layer':<32} {'ms':>8} {'GFLOP/s':>8} {'% peak':>7}")
    for layer in bench["layers"]:
        ms = layer["median_ms"]
        gflops = 2 * layer["macs"] / (ms * 1e6) if ms > 0 else 0
        share = f"{100 * gflops / peak:6.1f}%" if layer["macs"] and peak else ""
        print(f"{layer['layer']:<32} {ms:>8.3f} {gflops:>8.1f} {share:>7}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strata", default=os.path.join(ROOT, "build", "compiler", "strata"))
    parser.add_argument("--networks", default=",".join(TORCHVISION))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--per-layer", default="")
    args = parser.parse_args()

    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"{os.cpu_count()} cores; medians of {args.runs} runs\n")
    header = (f"{'model':<20} {'threads':>7} {'PyTorch ms':>11} {'Strata ms':>10} "
              f"{'speed-up':>9} {'GFLOP/s':>8} {'% peak':>7} {'PyTorch %':>10} "
              f"{'floor ms':>9}")
    print(header)
    print("-" * len(header))
    for name in args.networks.split(","):
        for threads in (int(t) for t in args.threads.split(",")):
            torch_ms = torch_median_ms(name, threads, args.runs)
            bench = strata_bench(args.strata, name, threads, args.runs)
            strata_ms = bench["median_ms"]
            gflops = 2 * bench["macs"] / (strata_ms * 1e6)
            peak = bench["peak_gflops"]
            share = f"{100 * gflops / peak:6.1f}%" if peak else "    n/a"
            torch_gflops = 2 * bench["macs"] / (torch_ms * 1e6)
            torch_share = f"{100 * torch_gflops / peak:9.1f}%" if peak else "       n/a"
            floor = bench["weight_bytes"] / (bench["read_gbps"] * 1e6)
            print(f"{name:<20} {threads:>7} {torch_ms:>11.2f} {strata_ms:>10.2f} "
                  f"{torch_ms / strata_ms:>8.2f}x {gflops:>8.1f} {share:>7} {torch_share:>10} "
                  f"{floor:>9.2f}", flush=True)
    for name in filter(None, args.per_layer.split(",")):
        print_layers(args.strata, name, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
