// Linear (fully connected): y = W x + b over NF vectors.
#include "lower/lowering.h"
#include "schedules/cpu_schedules.h"
#include "schedules/gpu_schedules.h"

namespace strata {
namespace lowering {

using Halide::Expr;
using Halide::Func;

LoweredOp lower_linear(KernelContext &ctx) {
    const LinearAttrs &attrs = ctx.node.attr<LinearAttrs>();
    const Shape &in = ctx.src_shape(0);
    check_internal(in.rank() == 2 && ctx.node.shape.rank() == 2, "linear reads and writes NF");

    // ---- Algorithm -------------------------------------------------------
    // The weight [out, in] is the buffer (in, out): row c is dense.
    LinearFuncs f;
    f.c = ctx.c;
    f.in_features = to_int(in.dims[1]);
    f.out_features = to_int(attrs.out_features);
    f.r = Halide::RDom(0, f.in_features, "r");
    f.linear = Func("linear");
    f.linear(f.c) = attrs.bias ? Expr(ctx.weight("bias")(f.c)) : Expr(0.0f);
    f.linear(f.c) += ctx.weight("weight")(f.r.x, f.c) * ctx.srcs[0](f.r.x);
    f.output = define_output(
        ctx, [&](const Expr &pc, const Expr &, const Expr &) { return Expr(f.linear(pc)); });

    // ---- Schedule --------------------------------------------------------
    if (ctx.gpu()) {
        GpuTileSchedule schedule = default_gpu_tile_schedule(ctx.target);
        schedule_linear_gpu(f, schedule);
        return {f.output, "linear " + describe(schedule)};
    }
    LinearCpuSchedule schedule = default_linear_cpu_schedule(ctx.target);
    schedule_linear_cpu(f, schedule);
    return {f.output, describe(schedule)};
}

} // namespace lowering
} // namespace strata
