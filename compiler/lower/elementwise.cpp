// Layers that compute each output element from a few loads: activations,
// batch norm, add, concat, slice, shuffle, flatten, dropout and identity.
// Concat has a kernel of its own shape: one copy per input (ConcatFuncs).
// Flatten of a map larger than 1x1 reorders it to PyTorch's NCHW order.
// The code generator aliases the other flattens and every slice but the
// network's output instead (plan_memory.h), so that those are rarely run.
#include "lower/lowering.h"
#include "passes/plan_memory.h"
#include "schedules/cpu_schedules.h"
#include "schedules/gpu_schedules.h"

namespace strata {
namespace lowering {

using Halide::Expr;
using Halide::Func;

namespace {

int channels_of(const Shape &shape) {
    return to_int(shape.dims.at(1));
}

// A feature map -> NF in PyTorch's row-major NCHW order, whatever the
// internal layout: feature f is (c, x, y) = (f / (W * H), f % W, f / W % H),
// so that a linear layer's weights need no permutation. A 1x1 map reads its
// channels in order (the code generator aliases that case instead).
ValueAt flatten_value(const KernelContext &ctx) {
    const Shape &in = ctx.src_shape(0);
    if (in.rank() != 4) {
        return
            [&ctx](const Expr &c, const Expr &x, const Expr &y) { return ctx.views[0](c, x, y); };
    }
    const int w = to_int(in.dims[3]);
    const int h = to_int(in.dims[2]);
    return [&ctx, w, h](const Expr &f, const Expr &, const Expr &) {
        return Expr(ctx.views[0](f / (w * h), f % w, f / w % h));
    };
}

} // namespace

LoweredOp lower_elementwise(KernelContext &ctx) {
    const Node &node = ctx.node;

    // ---- Algorithm -------------------------------------------------------
    ElementwiseFuncs f;
    f.x = ctx.x;
    f.y = ctx.y;
    f.c = ctx.c;
    const Func &src = ctx.views[0];
    ValueAt value;
    switch (node.op) {
    case OpKind::Relu:
    case OpKind::Relu6:
    case OpKind::LeakyRelu:
    case OpKind::Sigmoid:
    case OpKind::HardSwish: {
        Activation activation = activation_of(node.op);
        double slope = node.op == OpKind::LeakyRelu ? node.attr<LeakyReluAttrs>().slope : 0.0;
        value = [&src, activation, slope](const Expr &c, const Expr &x, const Expr &y) {
            return apply_activation(activation, slope, src(c, x, y));
        };
        break;
    }
    case OpKind::Dropout:
    case OpKind::Identity:
        value = [&src](const Expr &c, const Expr &x, const Expr &y) { return src(c, x, y); };
        break;
    case OpKind::BatchNorm: {
        // (src - mean) * scale + bias with scale = weight / sqrt(var + eps),
        // a per-channel table computed once in double like the reference.
        double epsilon = node.attr<BatchNormAttrs>().epsilon;
        Func scale("bn_scale");
        Expr var = Halide::cast<double>(ctx.weight("running_var")(f.c));
        scale(f.c) = Halide::cast<float>(
            Halide::cast<double>(ctx.weight("weight")(f.c)) /
            Halide::sqrt(var + Halide::Internal::make_const(Halide::Float(64), epsilon)));
        f.per_channel.push_back(scale);
        Halide::ImageParam mean = ctx.weight("running_mean");
        Halide::ImageParam bias = ctx.weight("bias");
        value = [&src, scale, mean, bias](const Expr &c, const Expr &x, const Expr &y) {
            return (src(c, x, y) - mean(c)) * scale(c) + bias(c);
        };
        break;
    }
    case OpKind::Add:
        // The fused residual, if any, is the epilogue's to add.
        value = [&ctx](const Expr &c, const Expr &x, const Expr &y) {
            Expr sum = ctx.views[0](c, x, y);
            for (int i = 1; i < ctx.op_input_count(); ++i) {
                sum = sum + ctx.views[i](c, x, y);
            }
            return sum;
        };
        break;
    case OpKind::Slice: {
        const SliceAttrs &slice = node.attr<SliceAttrs>();
        const int begin = to_int(slice.index * channels_of(node.shape));
        value = [&src, begin](const Expr &c, const Expr &x, const Expr &y) {
            return src(c + begin, x, y);
        };
        break;
    }
    case OpKind::Shuffle: {
        // Output channel c = i * G + g reads input channel g * (C / G) + i.
        const int groups = to_int(node.attr<ShuffleAttrs>().groups);
        const int per_group = channels_of(node.shape) / groups;
        value = [&src, groups, per_group](const Expr &c, const Expr &x, const Expr &y) {
            return src(c % groups * per_group + c / groups, x, y);
        };
        break;
    }
    case OpKind::Flatten: value = flatten_value(ctx); break;
    default: throw InternalError("lower_elementwise called on a non-element-wise operator");
    }
    f.output = define_output(ctx, value);

    // ---- Schedule --------------------------------------------------------
    f.extents = halide_extents(node.shape);
    if (ctx.gpu()) {
        GpuTileSchedule schedule = default_gpu_tile_schedule(ctx.target);
        schedule_elementwise_gpu(f, schedule);
        return {f.output, "elementwise " + describe(schedule)};
    }
    ElementwiseCpuSchedule schedule = default_elementwise_cpu_schedule(ctx.target);
    schedule_elementwise_cpu(f, schedule);
    return {f.output, describe(schedule)};
}

LoweredOp lower_concat(KernelContext &ctx) {
    const Node &node = ctx.node;
    check_internal(node.epilogue.empty(), "a concat has no epilogue to fuse");

    // ---- Algorithm -------------------------------------------------------
    ConcatFuncs f;
    f.x = ctx.x;
    f.y = ctx.y;
    f.output = Func("output");
    const bool map = node.shape.rank() == 4;
    if (map) {
        f.output(ctx.c, f.x, f.y) = Halide::undef<float>();
    } else {
        f.output(ctx.c) = Halide::undef<float>();
    }
    int begin = 0;
    for (int i = 0; i < ctx.op_input_count(); ++i) {
        const int channels = channels_of(ctx.src_shape(i));
        if (written_in_place(ctx.graph, node.inputs[i]) == node.id) {
            begin += channels; // already in its place: nothing to copy
            continue;
        }
        Halide::RDom r(0, channels, "r" + std::to_string(i));
        if (map) {
            f.output(r + begin, f.x, f.y) = ctx.views[i](r, f.x, f.y);
        } else {
            f.output(r + begin) = ctx.views[i](r, 0, 0);
        }
        f.rs.push_back(r);
        f.channels.push_back(channels);
        begin += channels;
    }

    // ---- Schedule --------------------------------------------------------
    f.extents = halide_extents(node.shape);
    if (ctx.gpu()) {
        GpuTileSchedule schedule = default_gpu_tile_schedule(ctx.target);
        schedule_concat_gpu(f, schedule);
        return {f.output, "concat " + describe(schedule)};
    }
    ElementwiseCpuSchedule schedule = default_elementwise_cpu_schedule(ctx.target);
    schedule_concat_cpu(f, schedule);
    return {f.output, "concat " + describe(schedule)};
}

} // namespace lowering
} // namespace strata
