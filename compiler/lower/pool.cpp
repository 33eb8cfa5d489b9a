// Pooling: max and average over a window, and global pooling.
#include "lower/lowering.h"
#include "schedules/cpu_schedules.h"
#include "schedules/gpu_schedules.h"

#include <limits>

namespace strata {
namespace lowering {

using Halide::Expr;
using Halide::Func;
using Halide::RDom;

namespace {

const float kMinusInfinity = -std::numeric_limits<float>::infinity();

// The divisor of average pooling along one axis at output index `o`, as
// PyTorch's avg_pool2d computes it (see pool_axis in the reference): the
// window clipped to the end padding under count_include_pad, the window
// clipped to the input otherwise.
Expr pool_divisor(const Expr &o, int size, int kernel, int stride, int pad_begin, int pad_end,
                  bool count_include_pad) {
    Expr start = o * stride - pad_begin;
    Expr end = Halide::min(start + kernel, size + pad_end);
    if (count_include_pad) {
        return end - start;
    }
    return Halide::min(end, size) - Halide::max(start, 0);
}

} // namespace

LoweredOp lower_pool(KernelContext &ctx) {
    const PoolAttrs &attrs = ctx.node.attr<PoolAttrs>();
    const Window &w = attrs.window;
    const Shape &in = ctx.src_shape(0);
    const Shape &out = ctx.node.shape;
    check_internal(in.rank() == 4 && out.rank() == 4, "pooling reads and writes feature maps");
    const bool is_max = ctx.node.op == OpKind::MaxPool;
    const int in_w = to_int(in.dims[3]);
    const int in_h = to_int(in.dims[2]);

    // ---- Algorithm -------------------------------------------------------
    PoolFuncs f;
    f.x = ctx.x;
    f.y = ctx.y;
    f.c = ctx.c;
    const Halide::Var &x = f.x, &y = f.y, &c = f.c;

    // The border reads -inf for max pooling (padding never wins) and zero
    // for average pooling (padding adds nothing; the divisor accounts for
    // it). Ceil mode's last window may run past the end padding too.
    Func src = ctx.views[0];
    if (window_leaves_input(in_w, out.dims[3], w.kernel.w, w.stride.w, w.pad_begin.w,
                            w.dilation.w) ||
        window_leaves_input(in_h, out.dims[2], w.kernel.h, w.stride.h, w.pad_begin.h,
                            w.dilation.h)) {
        src = select_border(src, in_w, in_h, is_max ? kMinusInfinity : 0.0f);
    }

    f.r = RDom(0, to_int(w.kernel.w), 0, to_int(w.kernel.h), "r");
    Expr ix = x * to_int(w.stride.w) - to_int(w.pad_begin.w) + f.r.x * to_int(w.dilation.w);
    Expr iy = y * to_int(w.stride.h) - to_int(w.pad_begin.h) + f.r.y * to_int(w.dilation.h);
    f.pool = Func(is_max ? "max_pool" : "sum_pool");
    if (is_max) {
        f.pool(c, x, y) = kMinusInfinity;
        f.pool(c, x, y) = Halide::max(f.pool(c, x, y), src(c, ix, iy));
    } else {
        f.pool(c, x, y) = 0.0f;
        f.pool(c, x, y) += src(c, ix, iy);
    }

    f.output = define_output(ctx, [&](const Expr &pc, const Expr &px, const Expr &py) {
        if (is_max) {
            return Expr(f.pool(pc, px, py));
        }
        Expr divisor =
            pool_divisor(px, in_w, to_int(w.kernel.w), to_int(w.stride.w), to_int(w.pad_begin.w),
                         to_int(w.pad_end.w), attrs.count_include_pad) *
            pool_divisor(py, in_h, to_int(w.kernel.h), to_int(w.stride.h), to_int(w.pad_begin.h),
                         to_int(w.pad_end.h), attrs.count_include_pad);
        return f.pool(pc, px, py) / Halide::cast<float>(divisor);
    });

    // ---- Schedule --------------------------------------------------------
    f.extents = halide_extents(out);
    f.kernel_w = to_int(w.kernel.w);
    if (ctx.gpu()) {
        GpuTileSchedule schedule = default_gpu_tile_schedule(ctx.target);
        schedule_pool_gpu(f, schedule);
        return {f.output, "pool " + describe(schedule)};
    }
    PoolCpuSchedule schedule = default_pool_cpu_schedule(ctx.target);
    schedule_pool_cpu(f, schedule);
    return {f.output, describe(schedule)};
}

LoweredOp lower_global_pool(KernelContext &ctx) {
    const Shape &in = ctx.src_shape(0);
    check_internal(in.rank() == 4 && ctx.node.shape.rank() == 4,
                   "global pooling reads and writes feature maps");
    const bool is_max = ctx.node.op == OpKind::GlobalMaxPool;
    const int area = to_int(in.dims[2] * in.dims[3]);

    // ---- Algorithm -------------------------------------------------------
    GlobalPoolFuncs f;
    f.x = ctx.x;
    f.y = ctx.y;
    f.c = ctx.c;
    f.r = RDom(0, to_int(in.dims[3]), 0, to_int(in.dims[2]), "r");
    const Func &src = ctx.views[0];
    f.pool = Func(is_max ? "global_max" : "global_sum");
    if (is_max) {
        f.pool(f.c) = kMinusInfinity;
        f.pool(f.c) = Halide::max(f.pool(f.c), src(f.c, f.r.x, f.r.y));
    } else {
        f.pool(f.c) = 0.0f;
        f.pool(f.c) += src(f.c, f.r.x, f.r.y);
    }
    f.output = define_output(ctx, [&](const Expr &pc, const Expr &, const Expr &) {
        Expr pooled = f.pool(pc);
        return is_max ? pooled : pooled / static_cast<float>(area);
    });

    // ---- Schedule --------------------------------------------------------
    f.extents = halide_extents(ctx.node.shape);
    if (ctx.gpu()) {
        GpuTileSchedule schedule = default_gpu_tile_schedule(ctx.target);
        schedule_global_pool_gpu(f, schedule);
        return {f.output, "global-pool " + describe(schedule)};
    }
    PoolCpuSchedule schedule = default_pool_cpu_schedule(ctx.target);
    schedule_global_pool_cpu(f, schedule);
    return {f.output, "global " + describe(schedule)};
}

} // namespace lowering
} // namespace strata
