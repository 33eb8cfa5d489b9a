// Lowering of one node of the graph IR to a Halide pipeline with its
// default schedule: the only part of the compiler, with schedules/, that
// sees Halide.
//
// Buffer conventions (the batch is always 1 and is dropped):
// - an NCHW feature map is a 3-D buffer over (x = W, y = H, c = C), W dense;
// - an NF vector is a 1-D buffer over (F);
// - weights keep PyTorch's layouts, dimensions listed innermost first:
//   conv OIHW is (kw, kh, ci, co), linear [out, in] is (in, out), biases and
//   batch norm's tensors are (C).
// Every buffer has fixed bounds starting at 0 and dense strides, and the
// pipeline is compiled for exactly those shapes.
#pragma once

#include "graph.h"

#include <Halide.h>
#include <string>
#include <vector>

namespace strata {

struct LoweredKernel {
    Halide::Pipeline pipeline; // one output: the node's tensor
    /// In order: every input tensor of the node (a fused residual last), then
    /// every weight tensor in parameters_of order. The output is the
    /// pipeline's and is not listed.
    std::vector<Halide::Argument> arguments;
    /// The same inputs and weights as ImageParams, for binding buffers to a
    /// JIT run (ImageParam::set or a Halide::ParamMap).
    std::vector<Halide::ImageParam> params;
    /// Equal for nodes that can share one compiled kernel: it spells out the
    /// operator, its attributes, the input and output shapes, the epilogue,
    /// the schedule and the target, and nothing else (not the node's name).
    std::string key;
};

/// Lowers `node` of `graph` for `target`: the algorithm of its operator, its
/// epilogue (the residual, the node's last input, added first, then the
/// activation), and the default schedule for its kind of layer and target
/// (a GPU schedule when `target.has_gpu_feature()`).
///
/// Requires infer_shapes to have run, and the node's inputs to be nodes of
/// `graph`; the node itself need not be (a fusion pass may lower a node it
/// is about to insert). Every operator except Input lowers. A node that
/// breaks these rules is an InternalError.
LoweredKernel lower_node(const Graph &graph, const Node &node, const Halide::Target &target);

/// The extents of the Halide buffer that holds a tensor of `shape`,
/// innermost first: (W, H, C) for NCHW, (F) for NF.
std::vector<int> halide_extents(const Shape &shape);

} // namespace strata
