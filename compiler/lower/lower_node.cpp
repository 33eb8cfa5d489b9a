// lower_node: from one node of the graph IR to a scheduled Halide pipeline.
//
// Map of this file:
// - KernelContext: an ImageParam per input and weight, with the fixed,
//   dense bounds the kernel is compiled for;
// - define_output, apply_activation: the epilogue every operator shares;
// - kernel_key: what makes two kernels interchangeable;
// - lower_node: dispatch to the operator's family, then the key;
// - lower_layout_conversion: NCHW <-> NHWC at the network's boundary.
#include "lower/lower_node.h"

#include "lower/lowering.h"
#include "passes/plan_memory.h"
#include "schedules/cpu_schedules.h"
#include "schedules/gpu_schedules.h"

#include <cstdio>
#include <limits>

namespace strata {
namespace lowering {

using Halide::Expr;
using Halide::Func;
using Halide::ImageParam;

namespace {

[[noreturn]] void fail(const Node &node, const std::string &invariant) {
    throw InternalError("lowering node '" + node.name + "' (" + op_name(node.op) +
                        "): " + invariant);
}

// A PyTorch weight shape, outermost first, as Halide extents, innermost
// first: OIHW becomes (kw, kh, ci, co), [out, in] becomes (in, out).
std::vector<int> weight_extents(const Shape &shape) {
    std::vector<int> extents;
    for (auto it = shape.dims.rbegin(); it != shape.dims.rend(); ++it) {
        extents.push_back(to_int(*it));
    }
    return extents;
}

// The input as a Func over (c, x, y), whatever its rank, so that operators
// over channels serve feature maps and NF vectors alike.
Func channel_view(const ImageParam &src, int rank, const std::string &name) {
    Halide::Var x("x"), y("y"), c("c");
    Func view(name);
    if (rank == 3) {
        view(c, x, y) = src(c, x, y);
    } else {
        view(c, x, y) = src(c);
    }
    return view;
}

// The packer of a weight read as PyTorch lays it out.
WeightPacker copy_packer(const std::vector<int> &extents) {
    return [extents](const TensorView &view) {
        PackedWeight packed;
        packed.extents = extents;
        packed.data.assign(view.data, view.data + view.shape.elements());
        return packed;
    };
}

} // namespace

ImageParam fixed_buffer(const std::string &name, const std::vector<int> &extents,
                        const std::vector<int64_t> &strides, Border border) {
    ImageParam param(Halide::Float(32), static_cast<int>(extents.size()), name);
    int64_t stride = 1;
    for (size_t i = 0; i < extents.size(); ++i) {
        if (!strides.empty()) {
            stride = strides.at(i);
        }
        const int margin = i == 1 ? to_int(border.x) : i == 2 ? to_int(border.y) : 0;
        param.dim(static_cast<int>(i))
            .set_bounds(-margin, extents[i] + 2 * margin)
            .set_stride(to_int(stride));
        stride *= extents[i];
    }
    return param;
}

bool border_stored(const KernelContext &ctx) {
    const Border stored = storage_border(ctx.graph, ctx.node.inputs.at(0));
    const Border needed = window_border(ctx.node, ctx.src_shape(0));
    return stored.x >= needed.x && stored.y >= needed.y;
}

int to_int(int64_t value) {
    check_internal(value >= 0 && value <= std::numeric_limits<int>::max(),
                   "a tensor extent does not fit a Halide int");
    return static_cast<int>(value);
}

KernelContext::KernelContext(const Graph &graph_, const Node &node_, const Halide::Target &target_)
    : graph(graph_), node(node_), target(target_) {
    if (node.shape.dims.empty()) {
        fail(node, "shapes must be inferred before lowering");
    }
    if (node.inputs.empty()) {
        fail(node, "only the input node has no inputs, and it is not lowered");
    }
    for (size_t i = 0; i < node.inputs.size(); ++i) {
        std::vector<int> extents = halide_extents(graph.node(node.inputs[i]).shape);
        std::string name = "src" + std::to_string(i);
        srcs.push_back(fixed_buffer(name, extents, storage_strides(graph, node.inputs[i]),
                                    storage_border(graph, node.inputs[i])));
        views.push_back(
            channel_view(srcs.back(), static_cast<int>(extents.size()), name + "_view"));
    }
    weight_specs = parameters_of(graph, node);
    for (const ParameterSpec &spec : weight_specs) {
        weights.push_back(fixed_buffer(spec.suffix, weight_extents(spec.shape)));
        packers.push_back(copy_packer(weight_extents(spec.shape)));
    }
    if (node.epilogue.residual) {
        if (node.inputs.size() < 2) {
            fail(node, "a fused residual needs an input besides the operator's own");
        }
        if (graph.node(node.inputs.back()).shape != node.shape) {
            fail(node, "the fused residual has shape " +
                           graph.node(node.inputs.back()).shape.str() + ", the output " +
                           node.shape.str());
        }
    }
}

int KernelContext::op_input_count() const {
    return static_cast<int>(node.inputs.size()) - (node.epilogue.residual ? 1 : 0);
}

const Shape &KernelContext::src_shape(int input) const {
    return graph.node(node.inputs.at(static_cast<size_t>(input))).shape;
}

const ImageParam &KernelContext::weight(const std::string &suffix) const {
    for (size_t i = 0; i < weight_specs.size(); ++i) {
        if (weight_specs[i].suffix == suffix) {
            return weights[i];
        }
    }
    fail(node, "has no parameter '" + suffix + "'");
}

const ImageParam &KernelContext::repack_weight(const std::string &suffix,
                                               const std::vector<int> &extents,
                                               WeightPacker packer) {
    for (size_t i = 0; i < weight_specs.size(); ++i) {
        if (weight_specs[i].suffix == suffix) {
            weights[i] = fixed_buffer(suffix, extents);
            packers[i] = std::move(packer);
            return weights[i];
        }
    }
    fail(node, "has no parameter '" + suffix + "'");
}

bool KernelContext::has_weight(const std::string &suffix) const {
    for (const ParameterSpec &spec : weight_specs) {
        if (spec.suffix == suffix) {
            return true;
        }
    }
    return false;
}

Expr apply_activation(Activation activation, double slope, const Expr &value) {
    switch (activation) {
    case Activation::None: return value;
    case Activation::Relu: return Halide::max(value, 0.0f);
    case Activation::Relu6: return Halide::clamp(value, 0.0f, 6.0f);
    case Activation::LeakyRelu:
        return Halide::select(value > 0.0f, value, value * static_cast<float>(slope));
    case Activation::Sigmoid: return 1.0f / (1.0f + Halide::exp(-value));
    case Activation::HardSwish: return value * Halide::clamp(value + 3.0f, 0.0f, 6.0f) / 6.0f;
    }
    throw InternalError("unknown activation");
}

Func define_output(const KernelContext &ctx, const ValueAt &value) {
    const Epilogue &epilogue = ctx.node.epilogue;
    auto at = [&](const Expr &c, const Expr &x, const Expr &y) {
        Expr result = value(c, x, y);
        if (epilogue.residual) {
            result = result + ctx.views.back()(c, x, y);
        }
        return apply_activation(epilogue.activation, epilogue.slope, result);
    };
    Func output("output");
    if (ctx.node.shape.rank() == 4) {
        output(ctx.c, ctx.x, ctx.y) = at(ctx.c, ctx.x, ctx.y);
    } else {
        output(ctx.c) = at(ctx.c, 0, 0);
    }
    return output;
}

Func select_border(const Func &src, int width, int height, float value) {
    Halide::Var c("c"), x("x"), y("y");
    Func border("border");
    Expr inside = x >= 0 && x < width && y >= 0 && y < height;
    border(c, x, y) = Halide::select(
        Halide::likely(inside),
        src(c, Halide::clamp(x, 0, width - 1), Halide::clamp(y, 0, height - 1)), value);
    return border;
}

bool window_leaves_input(int64_t input, int64_t output, int64_t kernel, int64_t stride,
                         int64_t pad_begin, int64_t dilation) {
    int64_t last = (output - 1) * stride - pad_begin + (kernel - 1) * dilation;
    return pad_begin > 0 || last >= input;
}

namespace {

std::string number(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", value);
    return text;
}

std::string pair(const Pair &p) {
    return std::to_string(p.h) + "x" + std::to_string(p.w);
}

std::string window(const Window &w) {
    return "kernel=" + pair(w.kernel) + " stride=" + pair(w.stride) +
           " pad_begin=" + pair(w.pad_begin) + " pad_end=" + pair(w.pad_end) +
           " dilation=" + pair(w.dilation) + " ceil=" + (w.ceil_mode ? "1" : "0");
}

// Every attribute, spelled out; two nodes with equal spellings compute the
// same function of their inputs.
std::string attributes(const Node &node) {
    if (const auto *a = std::get_if<ConvAttrs>(&node.attrs)) {
        return "out=" + std::to_string(a->out_channels) + " " + window(a->window) +
               " groups=" + std::to_string(a->groups) + " bias=" + (a->bias ? "1" : "0");
    }
    if (const auto *a = std::get_if<PoolAttrs>(&node.attrs)) {
        return window(a->window) + " count_include_pad=" + (a->count_include_pad ? "1" : "0");
    }
    if (const auto *a = std::get_if<BatchNormAttrs>(&node.attrs)) {
        return "eps=" + number(a->epsilon);
    }
    if (const auto *a = std::get_if<LeakyReluAttrs>(&node.attrs)) {
        return "slope=" + number(a->slope);
    }
    if (const auto *a = std::get_if<LinearAttrs>(&node.attrs)) {
        return "out=" + std::to_string(a->out_features) + " bias=" + (a->bias ? "1" : "0");
    }
    if (const auto *a = std::get_if<SliceAttrs>(&node.attrs)) {
        return "index=" + std::to_string(a->index) + " parts=" + std::to_string(a->parts);
    }
    if (const auto *a = std::get_if<ShuffleAttrs>(&node.attrs)) {
        return "groups=" + std::to_string(a->groups);
    }
    if (const auto *a = std::get_if<LrnAttrs>(&node.attrs)) {
        return "size=" + std::to_string(a->size) + " alpha=" + number(a->alpha) +
               " beta=" + number(a->beta) + " k=" + number(a->k);
    }
    // Dropout's probability does not change inference, so it is left out.
    return "";
}

std::string epilogue_text(const Epilogue &e) {
    static const char *const names[] = {"none",       "relu",    "relu6",
                                        "leaky_relu", "sigmoid", "hardswish"};
    std::string text = std::string("residual=") + (e.residual ? "1" : "0") +
                       " activation=" + names[static_cast<int>(e.activation)];
    if (e.activation == Activation::LeakyRelu) {
        text += " slope=" + number(e.slope);
    }
    return text;
}

std::string kernel_key(const KernelContext &ctx, const std::string &schedule) {
    std::string key = std::string(op_name(ctx.node.op)) + " [" + attributes(ctx.node) + "] in=";
    for (size_t i = 0; i < ctx.node.inputs.size(); ++i) {
        key += (i == 0 ? "" : ",") + ctx.src_shape(static_cast<int>(i)).str() + " strides";
        for (int64_t stride : storage_strides(ctx.graph, ctx.node.inputs[i])) {
            key += " " + std::to_string(stride);
        }
        const Border border = storage_border(ctx.graph, ctx.node.inputs[i]);
        key += " border " + std::to_string(border.x) + " " + std::to_string(border.y);
    }
    key += " out=" + ctx.node.shape.str() + " strides";
    for (int64_t stride : storage_strides(ctx.graph, ctx.node.id)) {
        key += " " + std::to_string(stride);
    }
    key += " [" + epilogue_text(ctx.node.epilogue) + "] [" + schedule +
           "] target=" + ctx.target.to_string();
    return key;
}

LoweredOp lower_op(KernelContext &ctx) {
    switch (ctx.node.op) {
    case OpKind::Conv: return lower_conv(ctx);
    case OpKind::MaxPool:
    case OpKind::AvgPool: return lower_pool(ctx);
    case OpKind::GlobalAvgPool:
    case OpKind::GlobalMaxPool: return lower_global_pool(ctx);
    case OpKind::Linear: return lower_linear(ctx);
    case OpKind::BatchNorm:
    case OpKind::Relu:
    case OpKind::Relu6:
    case OpKind::LeakyRelu:
    case OpKind::Sigmoid:
    case OpKind::HardSwish:
    case OpKind::Flatten:
    case OpKind::Dropout:
    case OpKind::Identity:
    case OpKind::Add:
    case OpKind::Slice:
    case OpKind::Shuffle: return lower_elementwise(ctx);
    case OpKind::Concat: return lower_concat(ctx);
    case OpKind::Softmax: return lower_softmax(ctx);
    case OpKind::Lrn: return lower_lrn(ctx);
    case OpKind::Input: break;
    }
    fail(ctx.node, "the input node is a buffer, not a kernel");
}

} // namespace
} // namespace lowering

std::vector<int> halide_extents(const Shape &shape) {
    check_internal(!shape.dims.empty() && shape.dims[0] == 1,
                   "kernels are lowered for a batch of one");
    if (shape.rank() == 4) {
        return {lowering::to_int(shape.dims[1]), lowering::to_int(shape.dims[3]),
                lowering::to_int(shape.dims[2])};
    }
    check_internal(shape.rank() == 2, "a tensor is either NCHW or NF");
    return {lowering::to_int(shape.dims[1])};
}

std::vector<int> nchw_extents(const Shape &shape) {
    check_internal(shape.rank() == 4 && shape.dims[0] == 1,
                   "a layout conversion takes a feature map with a batch of one");
    return {lowering::to_int(shape.dims[3]), lowering::to_int(shape.dims[2]),
            lowering::to_int(shape.dims[1])};
}

namespace {

// Fixes the output's bounds and strides, like the inputs', so that loop
// extents are constants and tails are resolved at compile time.
void fix_output_bounds(Halide::Func output, const std::vector<int> &extents,
                       const std::vector<int64_t> &strides) {
    Halide::OutputImageParam buffer = output.output_buffer();
    for (size_t i = 0; i < extents.size(); ++i) {
        buffer.dim(static_cast<int>(i))
            .set_bounds(0, extents[i])
            .set_stride(lowering::to_int(strides.at(i)));
    }
}

} // namespace

LoweredKernel lower_node(const Graph &graph, const Node &node, const Halide::Target &target) {
    lowering::KernelContext ctx(graph, node, target);
    lowering::LoweredOp op = lowering::lower_op(ctx);

    fix_output_bounds(op.output, halide_extents(node.shape), storage_strides(graph, node.id));

    LoweredKernel kernel;
    kernel.pipeline = Halide::Pipeline(op.output);
    kernel.params = ctx.srcs;
    kernel.params.insert(kernel.params.end(), ctx.weights.begin(), ctx.weights.end());
    for (const Halide::ImageParam &param : kernel.params) {
        kernel.arguments.push_back(param);
    }
    kernel.weight_packers = ctx.packers;
    kernel.key = lowering::kernel_key(ctx, op.schedule);
    kernel.algorithm = op.algorithm;
    return kernel;
}

LoweredKernel lower_layout_conversion(const Shape &shape, bool to_internal,
                                      const Halide::Target &target,
                                      const std::vector<int64_t> &internal_strides) {
    const std::vector<int> internal = halide_extents(shape);
    const std::vector<int> pytorch = nchw_extents(shape);
    Halide::ImageParam src = to_internal
                                 ? lowering::fixed_buffer("src0", pytorch)
                                 : lowering::fixed_buffer("src0", internal, internal_strides);

    // ---- Algorithm -------------------------------------------------------
    LayoutFuncs f;
    f.to_internal = to_internal;
    f.extents = to_internal ? internal : pytorch;
    f.output = Halide::Func("output");
    if (to_internal) {
        f.output(f.c, f.x, f.y) = src(f.x, f.y, f.c);
    } else {
        f.output(f.x, f.y, f.c) = src(f.c, f.x, f.y);
    }

    // ---- Schedule --------------------------------------------------------
    std::string schedule;
    if (target.has_gpu_feature()) {
        GpuTileSchedule s = default_gpu_tile_schedule(target);
        schedule_layout_gpu(f, s);
        schedule = "layout " + describe(s);
    } else {
        ElementwiseCpuSchedule s = default_elementwise_cpu_schedule(target);
        schedule_layout_cpu(f, s);
        schedule = "layout " + describe(s);
    }
    // The caller's arrays are dense; the internal map may have a border.
    std::vector<int64_t> strides = to_internal ? internal_strides : std::vector<int64_t>{};
    int64_t stride = 1;
    for (size_t i = strides.size(); i < f.extents.size(); ++i) {
        strides.push_back(stride);
        stride *= f.extents[i];
    }
    fix_output_bounds(f.output, f.extents, strides);

    LoweredKernel kernel;
    kernel.pipeline = Halide::Pipeline(f.output);
    kernel.params = {src};
    kernel.arguments = {src};
    kernel.key =
        std::string(to_internal ? "to_nhwc" : "to_nchw") + " shape=" + shape.str() + " strides";
    for (int64_t s : internal_strides) {
        kernel.key += " " + std::to_string(s);
    }
    kernel.key += " [" + schedule + "] target=" + target.to_string();
    return kernel;
}

} // namespace strata
