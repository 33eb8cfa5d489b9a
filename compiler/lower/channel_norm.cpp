// Normalisations across channels: softmax and local response normalisation.
#include "lower/lowering.h"
#include "schedules/cpu_schedules.h"
#include "schedules/gpu_schedules.h"

#include <limits>

namespace strata {
namespace lowering {

using Halide::Expr;
using Halide::Func;

LoweredOp lower_softmax(KernelContext &ctx) {
    // ---- Algorithm -------------------------------------------------------
    // exp(src - max) / sum: subtracting the maximum keeps exp finite.
    SoftmaxFuncs f;
    f.x = ctx.x;
    f.y = ctx.y;
    f.c = ctx.c;
    const Halide::Var &x = f.x, &y = f.y, &c = f.c;
    const Func &src = ctx.views[0];
    f.r = Halide::RDom(0, to_int(ctx.node.shape.dims[1]), "r");
    f.maximum = Func("maximum");
    f.maximum(x, y) = -std::numeric_limits<float>::infinity();
    f.maximum(x, y) = Halide::max(f.maximum(x, y), src(f.r.x, x, y));
    f.exp = Func("exp");
    f.exp(c, x, y) = Halide::exp(src(c, x, y) - f.maximum(x, y));
    f.sum = Func("sum");
    f.sum(x, y) = 0.0f;
    f.sum(x, y) += f.exp(f.r.x, x, y);
    f.output = define_output(ctx, [&](const Expr &pc, const Expr &px, const Expr &py) {
        return f.exp(pc, px, py) / f.sum(px, py);
    });

    // ---- Schedule --------------------------------------------------------
    f.extents = halide_extents(ctx.node.shape);
    if (ctx.gpu()) {
        GpuTileSchedule schedule = default_gpu_tile_schedule(ctx.target);
        schedule_softmax_gpu(f, schedule);
        return {f.output, "softmax " + describe(schedule)};
    }
    ElementwiseCpuSchedule schedule = default_elementwise_cpu_schedule(ctx.target);
    schedule_softmax_cpu(f, schedule);
    return {f.output, "softmax " + describe(schedule)};
}

LoweredOp lower_lrn(KernelContext &ctx) {
    const LrnAttrs &attrs = ctx.node.attr<LrnAttrs>();
    const int channels = to_int(ctx.node.shape.dims[1]);

    // ---- Algorithm -------------------------------------------------------
    // src / (k + alpha / size * sum of squares)^beta, the sum over channels
    // [c - size/2, c + (size-1)/2] with zeros outside the tensor, divided by
    // `size` whatever the clipping (PyTorch's LocalResponseNorm).
    LrnFuncs f;
    f.x = ctx.x;
    f.y = ctx.y;
    f.c = ctx.c;
    f.size = to_int(attrs.size);
    const Halide::Var &x = f.x, &y = f.y, &c = f.c;
    const Func &src = ctx.views[0];
    Func squared("squared");
    squared(c, x, y) = src(c, x, y) * src(c, x, y);
    f.square = Halide::BoundaryConditions::constant_exterior(
        squared, 0.0f, {{0, channels}, Halide::Range(), Halide::Range()});
    f.r = Halide::RDom(0, f.size, "r");
    f.window_sum = Func("window_sum");
    f.window_sum(c, x, y) = 0.0f;
    f.window_sum(c, x, y) += f.square(c - f.size / 2 + f.r.x, x, y);
    const float scale = static_cast<float>(attrs.alpha / double(attrs.size));
    const float k = static_cast<float>(attrs.k);
    const float beta = static_cast<float>(attrs.beta);
    f.output = define_output(ctx, [&](const Expr &pc, const Expr &px, const Expr &py) {
        return src(pc, px, py) / Halide::pow(k + scale * f.window_sum(pc, px, py), beta);
    });

    // ---- Schedule --------------------------------------------------------
    f.extents = halide_extents(ctx.node.shape);
    if (ctx.gpu()) {
        GpuTileSchedule schedule = default_gpu_tile_schedule(ctx.target);
        schedule_lrn_gpu(f, schedule);
        return {f.output, "lrn " + describe(schedule)};
    }
    ElementwiseCpuSchedule schedule = default_elementwise_cpu_schedule(ctx.target);
    schedule_lrn_cpu(f, schedule);
    return {f.output, "lrn " + describe(schedule)};
}

} // namespace lowering
} // namespace strata
