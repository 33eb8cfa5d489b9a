// What the per-operator lowering files share; private to lower/.
//
// lower_node (lower_node.cpp) builds a KernelContext for the node, with an
// ImageParam per input and weight, then calls the lowering of the node's
// family (conv.cpp, pool.cpp, linear.cpp, elementwise.cpp,
// channel_norm.cpp). Each defines the algorithm of its operator, fills the
// Funcs of its schedule template (schedules/kernel_funcs.h) and applies the
// CPU or GPU schedule.
#pragma once

#include "graph.h"
#include "lower/lower_node.h"
#include "parameters.h"
#include "passes/plan_memory.h"
#include "schedules/cpu_schedules.h"

#include <Halide.h>
#include <functional>
#include <string>
#include <vector>

namespace strata {
namespace lowering {

/// The node being lowered and the buffers its kernel reads.
struct KernelContext {
    const Graph &graph;
    const Node &node;
    const Halide::Target &target;
    std::vector<Halide::ImageParam> srcs;    // one per node input, in order
    std::vector<Halide::Func> views;         // srcs as (c, x, y); an NF input ignores x, y
    std::vector<ParameterSpec> weight_specs; // parameters_of(graph, node)
    std::vector<Halide::ImageParam> weights; // one per spec, same order
    std::vector<WeightPacker> packers;       // one per spec: a copy unless repacked
    Halide::Var x{"x"}, y{"y"}, c{"c"};

    KernelContext(const Graph &graph, const Node &node, const Halide::Target &target);

    /// Replaces the buffer of weight `suffix` by one of `extents` (innermost
    /// first, dense) that `packer` fills from the PyTorch tensor, and
    /// returns it. Called by an operator's lowering before it reads it.
    const Halide::ImageParam &repack_weight(const std::string &suffix,
                                            const std::vector<int> &extents, WeightPacker packer);

    bool gpu() const { return target.has_gpu_feature(); }
    /// The inputs the operator itself reads: all but a fused residual.
    int op_input_count() const;
    const Shape &src_shape(int input) const;
    /// The weight tensor called `suffix` ("weight", "bias", ...).
    const Halide::ImageParam &weight(const std::string &suffix) const;
    bool has_weight(const std::string &suffix) const;
};

/// The result of one operator's lowering: its output Func (scheduled) and
/// the schedule it got, spelled out for the kernel key.
struct LoweredOp {
    Halide::Func output;
    std::string schedule;
    std::string algorithm = {}; // see LoweredKernel::algorithm
};

/// A value at (c, x, y) of the operator's result, before the epilogue.
using ValueAt =
    std::function<Halide::Expr(const Halide::Expr &, const Halide::Expr &, const Halide::Expr &)>;

/// The output Func: output(c, x, y) for a feature map, output(c) for an NF
/// vector (the value is then taken at x = y = 0), with the node's epilogue
/// applied to `value`.
Halide::Func define_output(const KernelContext &ctx, const ValueAt &value);

/// `value` through `activation`, with the reference's formulas.
Halide::Expr apply_activation(Activation activation, double slope, const Halide::Expr &value);

/// Whether a window reads outside its input along one axis, so that a
/// border must be added: padding before, or a window past the last element.
bool window_leaves_input(int64_t input, int64_t output, int64_t kernel, int64_t stride,
                         int64_t pad_begin, int64_t dilation);

int to_int(int64_t value);

/// `src` over (c, x, y), reading `value` outside x in [0, width) and y in
/// [0, height), as a select on each load (marked likely, so that Halide may
/// split the loops into border and interior). For layers bound by memory,
/// where a padded copy would cost more than the selects.
Halide::Func select_border(const Halide::Func &src, int width, int height, float value);

/// A float buffer with the given extents, innermost first, every dimension
/// starting at 0 with the given strides (dense when none are given), so that
/// Halide can specialise the kernel for the exact shape and layout. With a
/// `border`, a feature map's x and y also cover that many pixels before
/// and after (plan_memory.h).
Halide::ImageParam fixed_buffer(const std::string &name, const std::vector<int> &extents,
                                const std::vector<int64_t> &strides = {}, Border border = {});

/// Whether input 0 of the conv being lowered is stored with a zero border
/// that covers its windows, so that it reads the input as it is.
bool border_stored(const KernelContext &ctx);

LoweredOp lower_conv(KernelContext &ctx);
/// Whether the node is a 3x3, stride-1, undilated, ungrouped conv, which
/// lower_winograd_conv computes with Winograd tiles of m = 2 or 4.
bool winograd_applies(const KernelContext &ctx);
LoweredOp lower_winograd_conv(KernelContext &ctx, const ConvCpuSchedule &schedule, int m);
LoweredOp lower_pool(KernelContext &ctx);        // MaxPool, AvgPool
LoweredOp lower_global_pool(KernelContext &ctx); // GlobalAvgPool, GlobalMaxPool
LoweredOp lower_linear(KernelContext &ctx);
LoweredOp lower_elementwise(KernelContext &ctx); // activations, batch norm, add,
                                                 // slice, shuffle, flatten, copies
LoweredOp lower_concat(KernelContext &ctx);
LoweredOp lower_softmax(KernelContext &ctx);
LoweredOp lower_lrn(KernelContext &ctx);

} // namespace lowering
} // namespace strata
