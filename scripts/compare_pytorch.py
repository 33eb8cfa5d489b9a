#!/usr/bin/python3
"""Strata against PyTorch on this machine, in one process, as ratios.

usage: compare_pytorch.py [--strata PATH] [--networks a,b,...] [--threads 1,2]
                          [--runs N] [--rounds R] [--per-layer a,b,...]

Every network is compiled once with `strata compile --target host` (the time
is reported) and its library loaded into this process beside the torchvision
model (TorchScript, frozen with torch.jit.optimize_for_inference, the fair
baseline on Debian's build). Then, R rounds for each thread count: a block of
N PyTorch runs, a block of N Strata runs, each after two warm-up runs. The
machines here are shared and noisy, and a neighbour's load lasts seconds, so
the two are timed in alternating blocks rather than one after the other:
the speed-up is the median over the rounds of (PyTorch's median / Strata's
median) in that round, with the lowest and highest round beside it.

The table also gives Strata's GFLOP/s and its share of the FMA peak that
`strata bench --peak` measures on the same threads, PyTorch's share of that
peak, and the floor set by reading every weight once at the measured memory
bandwidth. Both run with the same seeded random weights (passed to `strata
compile --weights`), and the script stops unless their outputs agree within
the project's tolerance before it times them. With --per-layer, Strata's
per-layer table (`strata bench --per-layer`) follows for the networks named:
every layer's median time, GFLOP/s and share of the FMA peak on each thread
count, and how much faster the last count runs it than the first (GFLOP/s
count the direct conv's work, also for a layer that the last column names
as Winograd), under a header that also gives what the conv register tile
reaches with its data in L1, the most a direct conv layer can reach.
"""
import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy
import torch
import torchvision

from export_torchvision import save_safetensors

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SIZES = {"alexnet": 227}
TORCHVISION = ["alexnet", "vgg16", "resnet18", "resnet34", "resnet50", "mobilenet_v2",
               "shufflenet_v2_x1_0"]
WARM_UP = 2


def source_of(name):
    return os.path.join(ROOT, "examples", "networks", name + ".strata")


def torch_model(name):
    """The torchvision model with seeded random weights, frozen for inference,
    its state_dict, and a random input."""
    torch.manual_seed(0)
    size = SIZES.get(name, 224)
    model = getattr(torchvision.models, name)(weights=None).eval()
    state_dict = {key: value.clone() for key, value in model.state_dict().items()}
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        model = torch.jit.optimize_for_inference(torch.jit.script(model))
    return model, state_dict, x


class StrataNetwork:
    """A network compiled for this machine and loaded as a shared library."""

    def __init__(self, strata, name, state_dict, x, work):
        prefix = os.path.join(work, name)
        save_safetensors(state_dict, prefix + ".safetensors")
        start = time.perf_counter()
        subprocess.run([strata, "compile", source_of(name), "--target", "host", "-o", prefix,
                        "--name", name, "--weights", prefix + ".safetensors"],
                       check=True, capture_output=True, text=True)
        self.compile_s = time.perf_counter() - start
        subprocess.run(["cc", "-shared", "-o", prefix + ".so", "-Wl,--whole-archive",
                        prefix + ".a", "-Wl,--no-whole-archive", "-lpthread", "-ldl"],
                       check=True)
        self.library = ctypes.CDLL(prefix + ".so")
        self.run_function = getattr(self.library, name + "_run")
        self.set_threads = getattr(self.library, name + "_set_num_threads")
        stats = subprocess.run([strata, "stats", source_of(name), "--format", "json"],
                               check=True, capture_output=True, text=True)
        totals = json.loads(stats.stdout)["totals"]
        self.macs = totals["macs"]
        self.weight_bytes = 4 * (totals["weights"] + totals["biases"])
        self.input = numpy.ascontiguousarray(x.numpy(), dtype=numpy.float32)
        header = open(prefix + ".h").read()
        elements = int(header.split("_OUTPUT_ELEMENTS ")[1].split()[0])
        self.output = numpy.empty(elements, dtype=numpy.float32)

    def __call__(self):
        code = self.run_function(self.input.ctypes.data_as(ctypes.c_void_p),
                                 self.output.ctypes.data_as(ctypes.c_void_p))
        if code != 0:
            raise SystemExit(f"the compiled network returned {code}")


def check_same_output(name, model, network, x):
    """Both compute the same function: a speed-up of wrong answers means
    nothing. The project's tolerance: max |diff| <= 1e-4 x max |expected|."""
    with torch.no_grad():
        expected = model(x).numpy().ravel()
    network()
    error = float(numpy.max(numpy.abs(network.output - expected)))
    scale = float(numpy.max(numpy.abs(expected)))
    if not error <= 1e-4 * scale:
        raise SystemExit(f"{name}: Strata's output differs from PyTorch's by {error:g} "
                         f"(max |PyTorch| {scale:g})")


def timed_block(call, runs):
    for _ in range(WARM_UP):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def machine_limits(strata, threads, work):
    """The FMA peak and the read bandwidth, measured by `strata bench --peak`
    on the given threads. A neighbour's load only ever lowers them, so the
    script keeps the highest of the measurements it takes before and after
    each network."""
    tiny = os.path.join(work, "tiny.strata")
    with open(tiny, "w") as f:
        f.write("network tiny\ninput 16x8x8\nrelu\n")
    result = subprocess.run([strata, "bench", tiny, "--threads", str(threads), "--runs", "1",
                             "--peak", "--format", "json"],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def strata_bench(strata, name, threads, runs, per_layer=False):
    command = [strata, "bench", source_of(name), "--threads", str(threads), "--runs", str(runs),
               "--peak", "--format", "json"] + (["--per-layer"] if per_layer else [])
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def print_layers(strata, name, runs, thread_counts):
    """One row per layer: its median time and share of the FMA peak on each
    thread count, and how much faster the last count runs it than the first."""
    benches = [strata_bench(strata, name, t, runs, per_layer=True) for t in thread_counts]
    peaks = [bench["peak_gflops"] for bench in benches]
    tile = benches[0]["tile_gflops"]
    peak_text = ", ".join(f"{peak:.1f} GFLOP/s on {t} thread(s)"
                          for t, peak in zip(thread_counts, peaks))
    print(f"\n{name}, per layer (FMA peak {peak_text}; the conv register tile with its data "
          f"in L1, one thread: {tile:.1f}, {100 * tile / peaks[0]:.1f}% of it)")
    columns = "".join(f" {f'ms {t}t':>8} {f'GFLOP/s {t}t':>11} {f'% peak {t}t':>10}"
                      for t in thread_counts)
    scaling = f" {f'{thread_counts[-1]}t/{thread_counts[0]}t':>8}" if len(benches) > 1 else ""
    print(f"{'layer':<32}{columns}{scaling}  algorithm")
    for rows in zip(*(bench["layers"] for bench in benches)):
        cells = ""
        for layer, peak in zip(rows, peaks):
            ms = layer["median_ms"]
            gflops = 2 * layer["macs"] / (ms * 1e6) if ms > 0 else 0
            share = f"{100 * gflops / peak:.1f}%" if layer["macs"] and peak else ""
            cells += f" {ms:>8.3f} {gflops:>11.1f} {share:>10}"
        if len(rows) > 1:
            first, last = rows[0]["median_ms"], rows[-1]["median_ms"]
            cells += f" {first / last:>7.2f}x" if last > 0 else f" {'':>8}"
        print(f"{rows[0]['layer']:<32}{cells}  {rows[0]['algorithm']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strata", default=os.path.join(ROOT, "build", "compiler", "strata"))
    parser.add_argument("--networks", default=",".join(TORCHVISION))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-layer", default="")
    args = parser.parse_args()
    thread_counts = [int(t) for t in args.threads.split(",")]

    work = tempfile.mkdtemp(prefix="strata-compare-")
    limits = {}

    def measure_limits():
        for t in thread_counts:
            now = machine_limits(args.strata, t, work)
            best = limits.setdefault(t, now)
            for key in ("peak_gflops", "read_gbps"):
                best[key] = max(best[key], now[key])

    measure_limits()
    rows = []
    for name in args.networks.split(","):
        model, state_dict, x = torch_model(name)
        network = StrataNetwork(args.strata, name, state_dict, x, work)
        check_same_output(name, model, network, x)
        for threads in thread_counts:
            torch.set_num_threads(threads)
            network.set_threads(threads)
            torch_times, strata_times, ratios = [], [], []
            with torch.no_grad():
                for _ in range(args.rounds):
                    t = timed_block(lambda: model(x), args.runs)
                    s = timed_block(network, args.runs)
                    torch_times += t
                    strata_times += s
                    ratios.append(statistics.median(t) / statistics.median(s))
            rows.append((name, threads, statistics.median(torch_times),
                         statistics.median(strata_times), ratios, network))
            print(f"measured {name} on {threads} thread(s)", file=sys.stderr, flush=True)
        measure_limits()

    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"{os.cpu_count()} cores; {args.rounds} rounds of {args.runs} runs each")
    for t in thread_counts:
        print(f"  {t} thread(s): FMA peak {limits[t]['peak_gflops']:.1f} GFLOP/s, "
              f"read bandwidth {limits[t]['read_gbps']:.1f} GB/s")
    header = (f"\n{'model':<20} {'threads':>7} {'PyTorch ms':>11} {'Strata ms':>10} "
              f"{'speed-up':>9} {'(rounds)':>11} {'GFLOP/s':>8} {'% peak':>7} "
              f"{'PyTorch %':>10} {'floor ms':>9} {'compile s':>10}")
    print(header)
    print("-" * len(header))
    for name, threads, torch_ms, strata_ms, ratios, network in rows:
        peak = limits[threads]["peak_gflops"]
        gflops = 2 * network.macs / (strata_ms * 1e6)
        torch_gflops = 2 * network.macs / (torch_ms * 1e6)
        floor = network.weight_bytes / (limits[threads]["read_gbps"] * 1e6)
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
        print(f"{name:<20} {threads:>7} {torch_ms:>11.2f} {strata_ms:>10.2f} "
              f"{statistics.median(ratios):>8.2f}x {spread:>11} {gflops:>8.1f} "
              f"{100 * gflops / peak:>6.1f}% {100 * torch_gflops / peak:>9.1f}% "
              f"{floor:>9.2f} {network.compile_s:>10.1f}")
    for name in filter(None, args.per_layer.split(",")):
        print_layers(args.strata, name, 20, thread_counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
