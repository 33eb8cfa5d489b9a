// Convolution: direct, grouped and depthwise, one algorithm, two schedules.
#include "lower/lowering.h"
#include "schedules/cpu_schedules.h"
#include "schedules/gpu_schedules.h"

namespace strata {
namespace lowering {

using Halide::Expr;
using Halide::Func;
using Halide::RDom;

LoweredOp lower_conv(const KernelContext &ctx) {
    const ConvAttrs &attrs = ctx.node.attr<ConvAttrs>();
    const Window &w = attrs.window;
    const Shape &in = ctx.src_shape(0);
    const Shape &out = ctx.node.shape;
    check_internal(in.rank() == 4 && out.rank() == 4, "conv reads and writes NCHW");
    const int in_channels = to_int(in.dims[1]);
    const int groups = to_int(attrs.groups);
    const int in_per_group = in_channels / groups;
    const int out_per_group = to_int(attrs.out_channels) / groups;
    // One input channel per group: each output channel reads a single
    // plane, which the depthwise schedule exploits.
    const bool depthwise = groups > 1 && in_per_group == 1;

    // The schedule is chosen first: a CPU schedule that rounds narrow rows
    // up to a whole vector needs the zero border even without padding.
    ConvGpuSchedule gpu_schedule = default_conv_gpu_schedule(ctx.target);
    ConvCpuSchedule cpu_schedule = default_conv_cpu_schedule(ctx.target);
    DepthwiseConvCpuSchedule depthwise_schedule = default_depthwise_conv_cpu_schedule(ctx.target);
    const bool schedule_needs_border =
        !ctx.gpu() &&
        (depthwise ? conv_cpu_needs_border(to_int(out.dims[3]), depthwise_schedule.vector_width,
                                           depthwise_schedule.tile_x)
                   : conv_cpu_needs_border(to_int(out.dims[3]), cpu_schedule.vector_width,
                                           cpu_schedule.tile_x));

    // ---- Algorithm -------------------------------------------------------
    ConvFuncs f;
    f.x = ctx.x;
    f.y = ctx.y;
    f.c = ctx.c;
    const Halide::Var &x = f.x, &y = f.y, &c = f.c;

    // Zero padding, where some window reaches past the input (or the
    // schedule's vectors do).
    Func src = ctx.views[0];
    if (schedule_needs_border ||
        window_leaves_input(in.dims[3], out.dims[3], w.kernel.w, w.stride.w, w.pad_begin.w,
                            w.dilation.w) ||
        window_leaves_input(in.dims[2], out.dims[2], w.kernel.h, w.stride.h, w.pad_begin.h,
                            w.dilation.h)) {
        f.padded = Halide::BoundaryConditions::constant_exterior(
            src, 0.0f, {{0, to_int(in.dims[3])}, {0, to_int(in.dims[2])}, Halide::Range()});
        src = f.padded;
    }

    // Output channel c of group g = c / out_per_group reads input channels
    // [g * in_per_group, (g + 1) * in_per_group); weights are (kw, kh, ci, co).
    const Halide::ImageParam &weight = ctx.weight("weight");
    Expr ci;
    Expr tap;
    if (depthwise) {
        f.r = RDom(0, to_int(w.kernel.w), 0, to_int(w.kernel.h), "r");
        ci = out_per_group == 1 ? Expr(c) : c / out_per_group;
        tap = weight(f.r.x, f.r.y, 0, c);
    } else {
        f.r = RDom(0, to_int(w.kernel.w), 0, to_int(w.kernel.h), 0, in_per_group, "r");
        ci = groups == 1 ? Expr(f.r.z) : (c / out_per_group) * in_per_group + f.r.z;
        tap = weight(f.r.x, f.r.y, f.r.z, c);
    }
    Expr ix = x * to_int(w.stride.w) - to_int(w.pad_begin.w) + f.r.x * to_int(w.dilation.w);
    Expr iy = y * to_int(w.stride.h) - to_int(w.pad_begin.h) + f.r.y * to_int(w.dilation.h);

    f.conv = Func("conv");
    f.conv(x, y, c) = attrs.bias ? Expr(ctx.weight("bias")(c)) : Expr(0.0f);
    f.conv(x, y, c) += tap * src(ix, iy, ci);
    f.output = define_output(ctx, [&](const Expr &px, const Expr &py, const Expr &pc) {
        return Expr(f.conv(px, py, pc));
    });

    // ---- Schedule --------------------------------------------------------
    f.extents = halide_extents(out);
    f.kernel_w = to_int(w.kernel.w);
    f.stride_w = to_int(w.stride.w);
    f.dilation_w = to_int(w.dilation.w);
    if (ctx.gpu()) {
        schedule_conv_gpu(f, gpu_schedule);
        return {f.output, describe(gpu_schedule)};
    }
    if (depthwise) {
        schedule_depthwise_conv_cpu(f, depthwise_schedule);
        return {f.output, describe(depthwise_schedule)};
    }
    schedule_conv_cpu(f, cpu_schedule);
    return {f.output, describe(cpu_schedule)};
}

} // namespace lowering
} // namespace strata
