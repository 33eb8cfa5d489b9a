#!/usr/bin/python3
"""Small single-layer networks, each with PyTorch's answer, for comparing Strata.

For every case this writes, into an output directory:

    CASE.strata           the network in Strata's language
    CASE.safetensors      the labelled layers' parameters (`LABEL.weight`, ...)
    CASE.input.npy        a float32 NCHW input with batch 1
    CASE.expected.npy     PyTorch's output for that input

Usage: layer_cases.py OUTPUT_DIR [NAME_SUBSTRING ...]

Everything is drawn from a seed derived from the case's name, so the files are
the same on every run and adding a case changes no other. Only torch and numpy
are needed: safetensors files are written by hand (see write_safetensors).
"""

import json
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------
# File writers.
# ---------------------------------------------------------------------------

def write_safetensors(path, tensors):
    """Writes {name: float32 array} in the safetensors format.

    Layout: an 8-byte little-endian header length, a JSON header padded with
    spaces to a multiple of 8, then the raw little-endian float32 data.
    """
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(tensors[name].shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


# ---------------------------------------------------------------------------
# Cases.
#
# A case is a Strata text and a PyTorch function computing the same thing.
# Layers with parameters carry a label in the Strata text and the same key in
# `modules`, so that `label.weight` names the same tensor on both sides.
# ---------------------------------------------------------------------------

class Case:
    def __init__(self, name, input_shape, lines, modules, forward, input_scale=1.0,
                 unlabelled=()):
        self.name = name
        self.input_shape = input_shape  # (C, H, W)
        self.lines = lines
        self.modules = modules          # {label: nn.Module}, the layers with parameters
        self.forward = forward          # (x, modules) -> y
        self.input_scale = input_scale
        self.unlabelled = list(unlabelled)  # parameter-free modules, put in eval mode too


def seq(name, input_shape, layers, input_scale=1.0):
    """A chain of layers; `layers` holds (label or None, strata line, module)."""
    lines = [(label + ": " if label else "") + line for label, line, _ in layers]
    modules = {label: module for label, _, module in layers if label}
    chain = [module for _, _, module in layers]

    def forward(x, _modules):
        for module in chain:
            x = module(x)
        return x

    unlabelled = [module for label, _, module in layers if not label]
    return Case(name, input_shape, lines, modules, forward, input_scale, unlabelled)


def randomise_batchnorm(bn):
    # Identity statistics would hide a swapped mean and variance.
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.normal_(0.0, 0.3)
        bn.running_mean.normal_(0.0, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    return bn


def randomise_bias(module):
    # PyTorch's default bias is small; a larger one makes a dropped or
    # misplaced bias show plainly.
    if getattr(module, "bias", None) is not None:
        with torch.no_grad():
            module.bias.normal_(0.0, 0.5)
    return module


def conv(cin, cout, kernel, bias=True, **kwargs):
    return nn.Conv2d(cin, cout, kernel, bias=bias, **kwargs)


def conv_cases():
    return [
        seq("conv_plain", (3, 9, 9), [("c", "conv 4 3x3", conv(3, 4, 3))]),
        seq("conv_bias", (3, 8, 8), [("c", "conv 5 3x3 bias=true", conv(3, 5, 3))]),
        seq("conv_no_bias", (3, 8, 8),
            [("c", "conv 5 3x3 bias=false", conv(3, 5, 3, bias=False))]),
        seq("conv_stride2", (3, 9, 9),
            [("c", "conv 4 3x3 stride=2 pad=1", conv(3, 4, 3, stride=2, padding=1))]),
        seq("conv_stride_2x1", (3, 9, 8),
            [("c", "conv 4 3x3 stride=2x1 pad=1", conv(3, 4, 3, stride=(2, 1), padding=1))]),
        seq("conv_pad0", (3, 7, 7), [("c", "conv 4 3x3 pad=0", conv(3, 4, 3, padding=0))]),
        seq("conv_pad1", (3, 7, 7), [("c", "conv 4 3x3 pad=1", conv(3, 4, 3, padding=1))]),
        seq("conv_pad2", (3, 7, 7), [("c", "conv 4 3x3 pad=2", conv(3, 4, 3, padding=2))]),
        seq("conv_pad_1x2", (3, 7, 6),
            [("c", "conv 4 3x5 pad=1x2", conv(3, 4, (3, 5), padding=(1, 2)))]),
        seq("conv_1x7", (4, 6, 9),
            [("c", "conv 3 1x7 pad=0x3", conv(4, 3, (1, 7), padding=(0, 3)))]),
        seq("conv_dilation2", (3, 11, 11),
            [("c", "conv 4 3x3 pad=2 dilation=2", conv(3, 4, 3, padding=2, dilation=2))]),
        seq("conv_dilation_stride", (3, 12, 12),
            [("c", "conv 4 3x3 stride=2 dilation=2",
              conv(3, 4, 3, stride=2, dilation=2))]),
        seq("conv_grouped2", (4, 7, 7),
            [("c", "conv 6 3x3 pad=1 groups=2", conv(4, 6, 3, padding=1, groups=2))]),
        seq("conv_grouped3_stride2", (6, 9, 9),
            [("c", "conv 9 3x3 stride=2 pad=1 groups=3",
              conv(6, 9, 3, stride=2, padding=1, groups=3))]),
        seq("conv_depthwise", (8, 7, 7),
            [("c", "conv 8 3x3 pad=1 groups=8", conv(8, 8, 3, padding=1, groups=8))]),
        seq("conv_depthwise_stride2", (8, 8, 8),
            [("c", "conv 8 3x3 stride=2 pad=1 groups=8 bias=false",
              conv(8, 8, 3, stride=2, padding=1, groups=8, bias=False))]),
        seq("conv_depthwise_multiplier2", (4, 6, 6),
            [("c", "conv 8 3x3 pad=1 groups=4", conv(4, 8, 3, padding=1, groups=4))]),
        seq("conv_1x1", (16, 5, 5), [("c", "conv 8 1x1", conv(16, 8, 1))]),
        seq("conv_1x1_stride2", (8, 7, 7),
            [("c", "conv 8 1x1 stride=2 bias=false", conv(8, 8, 1, stride=2, bias=False))]),
        seq("conv_7x7_stride2", (3, 20, 20),
            [("c", "conv 8 7x7 stride=2 pad=3", conv(3, 8, 7, stride=2, padding=3))]),
    ]


def pool_cases():
    return [
        seq("maxpool_2x2", (3, 8, 8), [(None, "maxpool 2x2", nn.MaxPool2d(2))]),
        seq("maxpool_3x3_stride2_pad1", (3, 9, 9),
            [(None, "maxpool 3x3 stride=2 pad=1", nn.MaxPool2d(3, stride=2, padding=1))]),
        seq("maxpool_ceil", (3, 10, 10),
            [(None, "maxpool 3x3 stride=2 ceil=true",
              nn.MaxPool2d(3, stride=2, ceil_mode=True))]),
        seq("maxpool_ceil_pad", (3, 8, 8),
            [(None, "maxpool 3x3 stride=2 pad=1 ceil=true",
              nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True))]),
        seq("maxpool_dilation2", (3, 9, 9),
            [(None, "maxpool 3x3 stride=1 pad=1 dilation=2",
              nn.MaxPool2d(3, stride=1, padding=1, dilation=2))]),
        seq("avgpool_2x2", (3, 8, 8), [(None, "avgpool 2x2", nn.AvgPool2d(2))]),
        seq("avgpool_3x3_pad1", (3, 7, 7),
            [(None, "avgpool 3x3 stride=1 pad=1", nn.AvgPool2d(3, stride=1, padding=1))]),
        seq("avgpool_ceil", (3, 10, 10),
            [(None, "avgpool 3x3 stride=2 ceil=true",
              nn.AvgPool2d(3, stride=2, ceil_mode=True))]),
        seq("avgpool_ceil_pad", (3, 8, 8),
            [(None, "avgpool 3x3 stride=2 pad=1 ceil=true",
              nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True))]),
        seq("avgpool_exclude_pad", (3, 9, 9),
            [(None, "avgpool 3x3 stride=2 pad=1 count_include_pad=false",
              nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False))]),
        seq("avgpool_ceil_exclude_pad", (3, 8, 8),
            [(None, "avgpool 3x3 stride=2 pad=1 ceil=true count_include_pad=false",
              nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True,
                           count_include_pad=False))]),
        seq("global_avgpool", (5, 6, 7),
            [(None, "global_avgpool", nn.AdaptiveAvgPool2d(1))]),
        seq("global_maxpool", (5, 6, 7),
            [(None, "global_maxpool", nn.AdaptiveMaxPool2d(1))]),
    ]


def normalisation_cases():
    return [
        seq("batchnorm", (6, 5, 5),
            [("bn", "batchnorm", nn.BatchNorm2d(6))]),
        seq("batchnorm_eps", (6, 5, 5),
            [("bn", "batchnorm eps=0.1", nn.BatchNorm2d(6, eps=0.1))]),
        seq("lrn", (8, 5, 5), [(None, "lrn", nn.LocalResponseNorm(5))], input_scale=10.0),
        seq("lrn_alexnet", (8, 5, 5),
            [(None, "lrn size=5 alpha=0.0001 beta=0.75 k=2.0",
              nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0))], input_scale=30.0),
        seq("lrn_even_size", (7, 4, 4),
            [(None, "lrn size=4 alpha=0.5 beta=0.6 k=1.5",
              nn.LocalResponseNorm(4, alpha=0.5, beta=0.6, k=1.5))]),
        seq("softmax", (5, 3, 3), [(None, "softmax", nn.Softmax(dim=1))], input_scale=4.0),
        seq("softmax_after_linear", (4, 3, 3),
            [(None, "flatten", nn.Flatten()),
             ("fc", "linear 10", nn.Linear(36, 10)),
             (None, "softmax", nn.Softmax(dim=1))], input_scale=4.0),
    ]


def activation_cases():
    # A scale of 5 puts values on both sides of every kink (0, +-3, 6).
    shape = (4, 5, 5)
    return [
        seq("relu", shape, [(None, "relu", nn.ReLU())], input_scale=5.0),
        seq("relu6", shape, [(None, "relu6", nn.ReLU6())], input_scale=5.0),
        seq("leaky_relu", shape, [(None, "leaky_relu", nn.LeakyReLU())], input_scale=5.0),
        seq("leaky_relu_slope", shape,
            [(None, "leaky_relu slope=0.2", nn.LeakyReLU(0.2))], input_scale=5.0),
        seq("sigmoid", shape, [(None, "sigmoid", nn.Sigmoid())], input_scale=5.0),
        seq("hardswish", shape, [(None, "hardswish", nn.Hardswish())], input_scale=5.0),
        seq("identity", shape, [(None, "identity", nn.Identity())]),
        seq("dropout", shape, [(None, "dropout", nn.Dropout())]),
        seq("dropout_p", shape, [(None, "dropout p=0.2", nn.Dropout(0.2))]),
    ]


def reshape_cases():
    return [
        seq("flatten", (3, 4, 5), [(None, "flatten", nn.Flatten())]),
        seq("linear", (3, 4, 4),
            [(None, "flatten", nn.Flatten()),
             ("fc", "linear 10", nn.Linear(48, 10))]),
        seq("linear_no_bias", (3, 4, 4),
            [(None, "flatten", nn.Flatten()),
             ("fc", "linear 7 bias=false", nn.Linear(48, 7, bias=False))]),
        seq("linear_after_global_pool", (16, 5, 5),
            [(None, "global_avgpool", nn.AdaptiveAvgPool2d(1)),
             (None, "flatten", nn.Flatten()),
             ("fc", "linear 5", nn.Linear(16, 5))]),
        seq("shuffle_groups2", (6, 3, 3),
            [(None, "shuffle groups=2", nn.ChannelShuffle(2))]),
        seq("shuffle_groups3", (6, 3, 3),
            [(None, "shuffle groups=3", nn.ChannelShuffle(3))]),
        seq("shuffle_groups3_wide", (12, 2, 3),
            [(None, "shuffle groups=3", nn.ChannelShuffle(3))]),
    ]


def branch_cases():
    """Cases whose layers read earlier layers by name."""
    cases = []

    modules = {"a": conv(4, 5, 1), "b": conv(4, 5, 3, padding=1)}
    cases.append(Case(
        "add", (4, 6, 6),
        ["a: conv 5 1x1", "b: conv 5 3x3 pad=1 <- input", "add <- a, b"],
        modules, lambda x, m: m["a"](x) + m["b"](x)))

    modules = {"a": conv(3, 3, 1), "b": conv(3, 3, 3, padding=1)}
    cases.append(Case(
        "add_three", (3, 5, 5),
        ["a: conv 3 1x1", "b: conv 3 3x3 pad=1 <- input", "add <- a, b, input"],
        modules, lambda x, m: m["a"](x) + m["b"](x) + x))

    modules = {"a": conv(3, 4, 1), "b": conv(3, 2, 3, padding=1)}
    cases.append(Case(
        "concat", (3, 6, 6),
        ["a: conv 4 1x1", "b: conv 2 3x3 pad=1 <- input", "concat <- a, b"],
        modules, lambda x, m: torch.cat([m["a"](x), m["b"](x)], dim=1)))

    cases.append(Case(
        "concat_with_input", (3, 4, 4),
        ["r: relu", "concat <- input, r, input"],
        {}, lambda x, m: torch.cat([x, F.relu(x), x], dim=1)))

    def split_concat(x, _m):
        left, right = torch.chunk(x, 2, dim=1)
        return torch.cat([left, F.relu(right)], dim=1)
    cases.append(Case(
        "split_concat", (6, 4, 4),
        ["s: split 2", "x: relu <- s[1]", "concat <- s[0], x"],
        {}, split_concat))

    # ShuffleNet V2's unit in miniature: split, a branch on one half, concat,
    # shuffle.
    modules = {"c": conv(4, 4, 1)}

    def shufflenet_unit(x, m):
        left, right = torch.chunk(x, 2, dim=1)
        y = torch.cat([left, F.relu(m["c"](right))], dim=1)
        return F.channel_shuffle(y, 2)
    cases.append(Case(
        "split_branch_shuffle", (8, 5, 5),
        ["s: split 2", "c: conv 4 1x1 <- s[1]", "r: relu", "concat <- s[0], r",
         "shuffle groups=2"],
        modules, shufflenet_unit))

    modules = {"a": conv(4, 5, 1, bias=False), "b": conv(4, 5, 3, padding=1, bias=False)}
    cases.append(Case(
        "add_three_of_same", (4, 4, 4),
        ["a: conv 5 1x1 bias=false", "b: conv 5 3x3 pad=1 bias=false <- input",
         "add <- a, b, a"],
        modules, lambda x, m: m["a"](x) + m["b"](x) + m["a"](x)))
    return cases


def block_cases():
    """A few layers in the order real networks use them."""
    return [
        seq("conv_bn_relu_maxpool", (3, 16, 16),
            [("conv1", "conv 8 7x7 stride=2 pad=3 bias=false",
              conv(3, 8, 7, stride=2, padding=3, bias=False)),
             ("bn1", "batchnorm", nn.BatchNorm2d(8)),
             (None, "relu", nn.ReLU()),
             (None, "maxpool 3x3 stride=2 pad=1", nn.MaxPool2d(3, stride=2, padding=1))]),
        seq("depthwise_separable", (8, 8, 8),
            [("dw", "conv 8 3x3 pad=1 groups=8 bias=false",
              conv(8, 8, 3, padding=1, groups=8, bias=False)),
             ("dw_bn", "batchnorm", nn.BatchNorm2d(8)),
             (None, "relu6", nn.ReLU6()),
             ("pw", "conv 16 1x1 bias=false", conv(8, 16, 1, bias=False)),
             ("pw_bn", "batchnorm", nn.BatchNorm2d(16)),
             (None, "hardswish", nn.Hardswish())]),
    ]


def all_cases():
    """Every case, built afresh; generate_case draws their weights."""
    builders = [conv_cases, pool_cases, normalisation_cases, activation_cases,
                reshape_cases, branch_cases, block_cases]
    return [case for build in builders for case in build()]


# ---------------------------------------------------------------------------
# Generation.
# ---------------------------------------------------------------------------

def case_seed(name):
    return zlib.crc32(name.encode("utf-8"))


def strata_text(case):
    c, h, w = case.input_shape
    lines = [
        "# Generated by tests/torch/layer_cases.py; PyTorch " + torch.__version__ +
        " computed " + case.name + ".expected.npy",
        "network " + case.name,
        "input %dx%dx%d" % (c, h, w),
    ]
    return "\n".join(lines + case.lines) + "\n"


def parameters(case):
    """The labelled modules' state, named LABEL.weight etc. as Strata expects."""
    tensors = {}
    for label, module in case.modules.items():
        for key, value in module.state_dict().items():
            if key == "num_batches_tracked":
                continue
            tensors[label + "." + key] = value.detach().numpy().astype(np.float32)
    return tensors


def initialise(module):
    """PyTorch's own initialisation, then random biases and statistics."""
    module.reset_parameters()
    if isinstance(module, nn.BatchNorm2d):
        randomise_batchnorm(module)
    else:
        randomise_bias(module)


def generate_case(case, out_dir):
    # Everything random is drawn here, from the case's own seed, so that each
    # case is independent of the others and of the order they are built in.
    torch.manual_seed(case_seed(case.name))
    for label in sorted(case.modules):
        initialise(case.modules[label])
    for module in list(case.modules.values()) + case.unlabelled:
        module.eval()  # dropout off, batch norm on its running statistics

    x = torch.randn(1, *case.input_shape) * case.input_scale
    with torch.no_grad():
        y = case.forward(x, case.modules)

    base = os.path.join(out_dir, case.name)
    with open(base + ".strata", "w") as f:
        f.write(strata_text(case))
    write_safetensors(base + ".safetensors", parameters(case))
    np.save(base + ".input.npy", x.numpy().astype(np.float32))
    np.save(base + ".expected.npy", y.numpy().astype(np.float32))


def generate(out_dir, selected=None):
    """Writes the selected cases (all when `selected` is empty) and returns their names."""
    os.makedirs(out_dir, exist_ok=True)
    torch.set_grad_enabled(False)
    names = []
    for case in all_cases():
        if selected and not any(s in case.name for s in selected):
            continue
        generate_case(case, out_dir)
        names.append(case.name)
    return names


def main(argv):
    if len(argv) < 2:
        print("usage: layer_cases.py OUTPUT_DIR [NAME_SUBSTRING ...]", file=sys.stderr)
        return 2
    names = generate(argv[1], argv[2:])
    print("wrote %d cases to %s" % (len(names), argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
