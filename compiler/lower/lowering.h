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
    std::vector<Halide::Func> views;         // srcs as (x, y, c); an NF input ignores x, y
    std::vector<ParameterSpec> weight_specs; // parameters_of(graph, node)
    std::vector<Halide::ImageParam> weights; // one per spec, same order
    Halide::Var x{"x"}, y{"y"}, c{"c"};

    KernelContext(const Graph &graph, const Node &node, const Halide::Target &target);

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
};

/// A value at (x, y, c) of the operator's result, before the epilogue.
using ValueAt =
    std::function<Halide::Expr(const Halide::Expr &, const Halide::Expr &, const Halide::Expr &)>;

/// The output Func: output(x, y, c) for a feature map, output(c) for an NF
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

LoweredOp lower_conv(const KernelContext &ctx);
LoweredOp lower_pool(const KernelContext &ctx);        // MaxPool, AvgPool
LoweredOp lower_global_pool(const KernelContext &ctx); // GlobalAvgPool, GlobalMaxPool
LoweredOp lower_linear(const KernelContext &ctx);
LoweredOp lower_elementwise(const KernelContext &ctx); // activations, batch norm, add,
                                                       // concat, slice, shuffle, flatten, copies
LoweredOp lower_softmax(const KernelContext &ctx);
LoweredOp lower_lrn(const KernelContext &ctx);

} // namespace lowering
} // namespace strata
