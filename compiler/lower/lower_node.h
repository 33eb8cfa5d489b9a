// Lowering of one node of the graph IR to a Halide pipeline with its
// default schedule: the only part of the compiler, with schedules/, that
// sees Halide.
//
// Buffer conventions (the batch is always 1 and is dropped):
// - a feature map passed between kernels is channels-innermost (NHWC): a
//   3-D buffer over (c = C, x = W, y = H), C dense, so that every layer
//   vectorises across channels whatever the size of its map;
// - an NF vector is a 1-D buffer over (F);
// - the network's own input and output keep PyTorch's NCHW, a 3-D buffer
//   over (x, y, c); lower_layout_conversion converts at the boundary;
// - weights are packed at compile time into the layout the kernel's
//   schedule reads (LoweredKernel::weight_packers says how): a conv's
//   weight in blocks of output channels, innermost; the rest as PyTorch
//   lays them out, listed innermost first (linear [out, in] is (in, out),
//   biases and batch norm's tensors are (C)).
// Every buffer has fixed bounds and strides, and the pipeline is compiled
// for exactly those: dense and from 0, except where the memory plan stores
// a map sparser (a view of some channels, a map with a zero border; see
// plan_memory.h), whose readers see its border at negative x and y.
#pragma once

#include "graph.h"
#include "tensor.h"

#include <Halide.h>
#include <functional>
#include <string>
#include <vector>

namespace strata {

/// A weight tensor in the layout a kernel reads: dense, `extents` listed
/// innermost first, `data` their product of floats.
struct PackedWeight {
    std::vector<int> extents;
    std::vector<float> data;
};

/// Packs one weight tensor, given in PyTorch's layout and shape (the shape
/// parameters_of gives it), into the layout of its kernel's ImageParam.
using WeightPacker = std::function<PackedWeight(const TensorView &pytorch_layout)>;

struct LoweredKernel {
    Halide::Pipeline pipeline; // one output: the node's tensor
    /// In order: every input tensor of the node (a fused residual last), then
    /// every weight tensor in parameters_of order. The output is the
    /// pipeline's and is not listed.
    std::vector<Halide::Argument> arguments;
    /// The same inputs and weights as ImageParams, for binding buffers to a
    /// JIT run (ImageParam::set or a Halide::ParamMap).
    std::vector<Halide::ImageParam> params;
    /// One per weight argument, in parameters_of order: what turns the
    /// PyTorch tensor into the buffer the kernel reads. The ImageParam of
    /// that weight has exactly the packed extents.
    std::vector<WeightPacker> weight_packers;
    /// Equal for nodes that can share one compiled kernel: it spells out the
    /// operator, its attributes, the input and output shapes, the epilogue,
    /// the schedule and the target, and nothing else (not the node's name).
    std::string key;
    /// How the kernel computes its operator where there is a choice (a 3x3
    /// conv in Winograd's form: "winograd F(2x2,3x3)"); empty otherwise. Shown
    /// in per-layer benchmarks, whose GFLOP/s count the direct form's work.
    std::string algorithm;
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

/// A kernel that converts a feature map of `shape` (NCHW, batch 1) between
/// PyTorch's layout, the buffer (x, y, c), and the internal one, (c, x, y):
/// to the internal layout when `to_internal`, back otherwise. Its one
/// argument is the source; it has no weights. The internal buffer has
/// `internal_strides` (plan_memory.h, storage_strides), dense when empty.
LoweredKernel lower_layout_conversion(const Shape &shape, bool to_internal,
                                      const Halide::Target &target,
                                      const std::vector<int64_t> &internal_strides = {});

/// The extents of the Halide buffer that holds a tensor of `shape` between
/// kernels, innermost first: (C, W, H) for a feature map, (F) for NF.
std::vector<int> halide_extents(const Shape &shape);

/// The extents of a feature map of `shape` in PyTorch's layout, innermost
/// first: (W, H, C).
std::vector<int> nchw_extents(const Shape &shape);

} // namespace strata
