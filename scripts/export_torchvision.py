#!/usr/bin/python3
"""Exports a torchvision model's weights as a safetensors file for Strata.

usage: export_torchvision.py MODEL -o OUT.safetensors [--checkpoint FILE.pth]
                             [--seed N] [--randomize-batchnorm]

MODEL is a torchvision.models name (resnet18, mobilenet_v2, alexnet, ...).
Without --checkpoint the model keeps torchvision's random initialisation,
drawn from --seed: pretrained weights cannot be downloaded everywhere, and
random ones are enough to compare Strata with PyTorch. --randomize-batchnorm
draws batch norm statistics and affine parameters too, so that a layer that
ignored them would show in a comparison.

As a module it offers save_safetensors and load_safetensors, which need no
safetensors package: the format is an 8-byte little-endian header size, a
JSON header and the raw data (see compiler/safetensors.h).
"""
import argparse
import json
import struct
import sys

import numpy
import torch
import torchvision


def is_batchnorm_counter(name):
    """True for batch norm's step counter, an integer inference never reads."""
    return name.rsplit(".", 1)[-1] == "num_batches_tracked"


def save_safetensors(state_dict, path, metadata=None):
    """Writes every floating-point tensor of `state_dict` as F32, sorted by
    name, skipping batch norm's num_batches_tracked counters. The bytes depend
    only on the tensors: they equal those of Strata's write_safetensors."""
    header, chunks, offset = {}, [], 0
    for name in sorted(state_dict):
        if is_batchnorm_counter(name):
            continue
        tensor = state_dict[name]
        if not tensor.is_floating_point():
            raise ValueError(f"tensor '{name}' has dtype {tensor.dtype}; only floating-point "
                             "tensors can be exported")
        data = tensor.detach().cpu().to(torch.float32).contiguous().numpy().astype("<f4")
        chunk = data.tobytes()
        header[name] = {"dtype": "F32", "shape": list(data.shape),
                        "data_offsets": [offset, offset + len(chunk)]}
        chunks.append(chunk)
        offset += len(chunk)
    if metadata:
        header["__metadata__"] = dict(metadata)
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = text.encode("utf-8")
    text += b" " * (-len(text) % 8)  # aligns the data region for in-place reads
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for chunk in chunks:
            out.write(chunk)


def load_safetensors(path):
    """Reads an F32 safetensors file into {name: torch.Tensor}."""
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
        data = f.read()
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] != "F32":
            raise ValueError(f"{path}: tensor '{name}' has dtype {entry['dtype']}, not F32")
        begin, end = entry["data_offsets"]
        array = numpy.frombuffer(data[begin:end], dtype="<f4").reshape(entry["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors


def randomize_batchnorm(model, generator):
    """Draws every BatchNorm2d's running mean from U(-0.5, 0.5), running
    variance from U(0.5, 2), weight from U(0.5, 1.5) and bias from U(-0.5, 0.5),
    so that batch norm is far from the identity."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                channels = module.num_features
                module.running_mean.copy_(torch.rand(channels, generator=generator) - 0.5)
                module.running_var.copy_(torch.rand(channels, generator=generator) * 1.5 + 0.5)
                module.weight.copy_(torch.rand(channels, generator=generator) + 0.5)
                module.bias.copy_(torch.rand(channels, generator=generator) - 0.5)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a torchvision.models name, e.g. resnet18")
    parser.add_argument("-o", "--output", required=True, help="the .safetensors file to write")
    parser.add_argument("--checkpoint", help="a .pth file holding the model's state_dict")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument("--randomize-batchnorm", action="store_true",
                        help="draw batch norm statistics and affine parameters at random")
    args = parser.parse_args(argv)

    if args.model not in torchvision.models.list_models():
        parser.error(f"unknown torchvision model '{args.model}'")
    torch.manual_seed(args.seed)
    model = torchvision.models.get_model(args.model, weights=None).eval()
    source = f"torchvision {torchvision.__version__} {args.model}"
    if args.checkpoint:
        # weights_only refuses the arbitrary code a pickled .pth file may carry.
        checkpoint = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
        for key in ("state_dict", "model"):  # training scripts often nest it
            if isinstance(checkpoint.get(key), dict):
                checkpoint = checkpoint[key]
        model.load_state_dict(checkpoint)
        source += f", checkpoint {args.checkpoint}"
    else:
        source += f", random weights, seed {args.seed}"
    if args.randomize_batchnorm:
        randomize_batchnorm(model, torch.Generator().manual_seed(args.seed + 1))
        source += ", random batch norm"

    save_safetensors(model.state_dict(), args.output,
                     {"format": "pt", "generator": "strata export_torchvision.py",
                      "source": source})
    count = sum(1 for name in model.state_dict() if not is_batchnorm_counter(name))
    print(f"wrote {count} tensors of {args.model} to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
