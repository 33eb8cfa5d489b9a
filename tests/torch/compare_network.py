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
import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
from export_torchvision import save_safetensors  # noqa: E402

TOLERANCE = 1e-4


def randomize_batchnorm(model, generator):
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            channels = module.num_features
            module.running_mean.copy_(torch.rand(channels, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(channels, generator=generator) * 1.5 + 0.5)
            module.weight.data.copy_(torch.rand(channels, generator=generator) + 0.5)
            module.bias.data.copy_(torch.rand(channels, generator=generator) - 0.5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("strata")
    parser.add_argument("network")
    parser.add_argument("model")
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()

    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    model = getattr(torchvision.models, args.model)(weights=None).eval()
    with torch.no_grad():
        randomize_batchnorm(model, generator)
        x = torch.randn(1, 3, args.size, args.size, generator=generator)
        expected = model(x).numpy()

    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "weights.safetensors")
        save_safetensors(model.state_dict(), weights)
        numpy.save(os.path.join(tmp, "input.npy"), x.numpy())
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
    scale = float(numpy.abs(expected).max())
    diff = float(numpy.abs(actual - expected).max())
    ok = diff <= TOLERANCE * scale
    print(f"{'ok' if ok else 'FAIL'} {args.model}: max |diff| {diff:.3g}, "
          f"max |output| {scale:.3g}, ratio {diff / scale:.3g} (limit {TOLERANCE:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
