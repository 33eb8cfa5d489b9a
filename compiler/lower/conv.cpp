// Convolution: direct, grouped and depthwise.
//
// Feature maps are (c, x, y), channels dense. A direct or grouped conv
// computes its output channels in blocks of one vector (`block` lanes), with
// the weight packed at compile time so that the lanes of one block, for one
// input channel and tap, are a dense vector:
//
//   OIHW [co][ci][ky][kx] -> (lane, ci, kx, ky, cb), lane innermost,
//   output channel co = g * out_per_group + (cb % blocks_per_group) * block
//   + lane, zero where that passes the group's last channel.
//
// A depthwise conv (one input channel per output channel) vectorises across
// channels directly: its weight [C][1][ky][kx] is packed to (c, kx, ky).
#include "lower/lowering.h"
#include "schedules/cpu_schedules.h"
#include "schedules/gpu_schedules.h"

namespace strata {
namespace lowering {

using Halide::Expr;
using Halide::Func;
using Halide::RDom;

namespace {

// Whether some window of the conv reaches past its input.
bool needs_border(const KernelContext &ctx) {
    const Window &w = ctx.node.attr<ConvAttrs>().window;
    const Shape &in = ctx.src_shape(0);
    const Shape &out = ctx.node.shape;
    return window_leaves_input(in.dims[3], out.dims[3], w.kernel.w, w.stride.w, w.pad_begin.w,
                               w.dilation.w) ||
           window_leaves_input(in.dims[2], out.dims[2], w.kernel.h, w.stride.h, w.pad_begin.h,
                               w.dilation.h);
}

// OIHW -> (lane, ci, kx, ky, cb), see the top of this file.
WeightPacker pack_oihw_to_blocked(int groups, int out_per_group, int block, int blocks_per_group) {
    return [=](const TensorView &view) {
        const int ci_count = static_cast<int>(view.shape.dims[1]);
        const int kh = static_cast<int>(view.shape.dims[2]);
        const int kw = static_cast<int>(view.shape.dims[3]);
        const int blocks = groups * blocks_per_group;
        PackedWeight packed;
        packed.extents = {block, ci_count, kw, kh, blocks};
        packed.data.assign(static_cast<size_t>(block) * ci_count * kw * kh * blocks, 0.0f);
        for (int cb = 0; cb < blocks; ++cb) {
            const int g = cb / blocks_per_group;
            for (int lane = 0; lane < block; ++lane) {
                const int within = (cb % blocks_per_group) * block + lane;
                if (within >= out_per_group) {
                    continue;
                }
                const int co = g * out_per_group + within;
                for (int ci = 0; ci < ci_count; ++ci) {
                    for (int ky = 0; ky < kh; ++ky) {
                        for (int kx = 0; kx < kw; ++kx) {
                            size_t src =
                                ((static_cast<size_t>(co) * ci_count + ci) * kh + ky) * kw + kx;
                            size_t dst =
                                (((static_cast<size_t>(cb) * kh + ky) * kw + kx) * ci_count + ci) *
                                    block +
                                lane;
                            packed.data[dst] = view.data[src];
                        }
                    }
                }
            }
        }
        return packed;
    };
}

// [C][1][ky][kx] -> (c, kx, ky).
WeightPacker pack_depthwise_to_cxy(int channels, int kw, int kh) {
    return [=](const TensorView &view) {
        PackedWeight packed;
        packed.extents = {channels, kw, kh};
        packed.data.resize(static_cast<size_t>(channels) * kw * kh);
        for (int c = 0; c < channels; ++c) {
            for (int ky = 0; ky < kh; ++ky) {
                for (int kx = 0; kx < kw; ++kx) {
                    packed.data[(static_cast<size_t>(ky) * kw + kx) * channels + c] =
                        view.data[(static_cast<size_t>(c) * kh + ky) * kw + kx];
                }
            }
        }
        return packed;
    };
}

// The largest power of two that divides `count` and is at most `limit`:
// blocks of it never straddle two groups.
int block_within_groups(int count, int limit) {
    int block = 1;
    while (block * 2 <= limit && count % (block * 2) == 0) {
        block *= 2;
    }
    return block;
}

LoweredOp lower_depthwise(KernelContext &ctx) {
    const ConvAttrs &attrs = ctx.node.attr<ConvAttrs>();
    const Window &w = attrs.window;
    const Shape &out = ctx.node.shape;
    const int channels = to_int(out.dims[1]);
    const int kw = to_int(w.kernel.w);
    const int kh = to_int(w.kernel.h);

    // ---- Algorithm -------------------------------------------------------
    DepthwiseConvFuncs f;
    f.c = ctx.c;
    f.x = ctx.x;
    f.y = ctx.y;
    const Halide::Var &x = f.x, &y = f.y, &c = f.c;
    // The border stored with the input, else a select on each load, not a
    // padded copy: the layer is bound by memory traffic, which a copy of
    // its input would add to.
    const Shape &in = ctx.src_shape(0);
    Func src = needs_border(ctx) && !border_stored(ctx)
                   ? select_border(ctx.views[0], to_int(in.dims[3]), to_int(in.dims[2]), 0.0f)
                   : ctx.views[0];
    const Halide::ImageParam &weight =
        ctx.repack_weight("weight", {channels, kw, kh}, pack_depthwise_to_cxy(channels, kw, kh));
    f.r = RDom(0, kw, 0, kh, "r");
    Expr ix = x * to_int(w.stride.w) - to_int(w.pad_begin.w) + f.r.x * to_int(w.dilation.w);
    Expr iy = y * to_int(w.stride.h) - to_int(w.pad_begin.h) + f.r.y * to_int(w.dilation.h);
    f.conv = Func("conv");
    f.conv(c, x, y) = 0.0f;
    f.conv(c, x, y) += weight(c, f.r.x, f.r.y) * src(c, ix, iy);
    const bool bias = attrs.bias;
    f.output = define_output(ctx, [&](const Expr &pc, const Expr &px, const Expr &py) {
        Expr value = f.conv(pc, px, py);
        return bias ? value + ctx.weight("bias")(pc) : value;
    });

    // ---- Schedule --------------------------------------------------------
    f.extents = halide_extents(out);
    f.kernel_w = kw;
    f.macs = out.elements() * kw * kh;
    if (ctx.gpu()) {
        GpuTileSchedule schedule = default_gpu_tile_schedule(ctx.target);
        schedule_depthwise_conv_gpu(f, schedule);
        return {f.output, "depthwise " + describe(schedule)};
    }
    DepthwiseConvCpuSchedule schedule = default_depthwise_conv_cpu_schedule(ctx.target);
    schedule_depthwise_conv_cpu(f, schedule);
    return {f.output, describe(schedule)};
}

} // namespace

LoweredOp lower_conv(KernelContext &ctx) {
    const ConvAttrs &attrs = ctx.node.attr<ConvAttrs>();
    const Window &w = attrs.window;
    const Shape &in = ctx.src_shape(0);
    const Shape &out = ctx.node.shape;
    check_internal(in.rank() == 4 && out.rank() == 4, "conv reads and writes feature maps");
    const int in_channels = to_int(in.dims[1]);
    const int groups = to_int(attrs.groups);
    const int in_per_group = in_channels / groups;
    const int out_per_group = to_int(attrs.out_channels) / groups;
    if (groups > 1 && in_per_group == 1 && out_per_group == 1) {
        return lower_depthwise(ctx);
    }

    ConvCpuSchedule cpu_schedule = default_conv_cpu_schedule(ctx.target);
    if (!ctx.gpu() && winograd_applies(ctx)) {
        const int m =
            choose_winograd_tile(cpu_schedule, to_int(in.dims[1]), to_int(attrs.out_channels),
                                 to_int(out.dims[3]), to_int(out.dims[2]));
        if (m > 0) {
            return lower_winograd_conv(ctx, cpu_schedule, m);
        }
    }
    // Blocks of one vector of output channels; in a grouped conv a block
    // stays within its group (a power of two that divides the group), so
    // that no vector reads two groups' inputs.
    const int vector = ctx.gpu() ? 1 : cpu_schedule.vector_width;
    const int block = groups == 1 ? vector : block_within_groups(out_per_group, vector);
    const int blocks_per_group = (out_per_group + block - 1) / block;
    const int kw = to_int(w.kernel.w);
    const int kh = to_int(w.kernel.h);

    // ---- Algorithm -------------------------------------------------------
    ConvFuncs f;
    f.c = ctx.c;
    f.x = ctx.x;
    f.y = ctx.y;
    f.lane = Halide::Var("lane");
    f.cb = Halide::Var("cb");
    const Halide::Var &x = f.x, &y = f.y, &lane = f.lane, &cb = f.cb;
    f.block = block;
    f.blocks = groups * blocks_per_group;
    f.blocks_per_group = blocks_per_group;
    f.in_channels_per_group = in_per_group;
    // The border stored with the input, else a padded copy of the input,
    // computed per band of rows by the schedule: a select on each load
    // would cost as much as its FMA.
    if (needs_border(ctx) && !border_stored(ctx)) {
        f.padded = Halide::BoundaryConditions::constant_exterior(
            ctx.views[0], 0.0f,
            {Halide::Range(), {0, to_int(in.dims[3])}, {0, to_int(in.dims[2])}});
    }
    Func src = f.padded.defined() ? f.padded : ctx.views[0];
    const Halide::ImageParam &weight =
        ctx.repack_weight("weight", {block, in_per_group, kw, kh, f.blocks},
                          pack_oihw_to_blocked(groups, out_per_group, block, blocks_per_group));
    f.weight = weight;

    // Block cb of group g = cb / blocks_per_group reads input channels
    // [g * in_per_group, (g + 1) * in_per_group).
    f.r = RDom(0, in_per_group, 0, kw, 0, kh, "r");
    Expr ci = groups == 1 ? Expr(f.r.x) : (cb / blocks_per_group) * in_per_group + f.r.x;
    Expr ix = x * to_int(w.stride.w) - to_int(w.pad_begin.w) + f.r.y * to_int(w.dilation.w);
    Expr iy = y * to_int(w.stride.h) - to_int(w.pad_begin.h) + f.r.z * to_int(w.dilation.h);
    f.conv = Func("conv");
    f.conv(lane, x, y, cb) = 0.0f;
    f.conv(lane, x, y, cb) += weight(lane, f.r.x, f.r.y, f.r.z, cb) * src(ci, ix, iy);

    // Output channel c is lane c % block of block c / block: blocks tile
    // each group exactly (a grouped conv's block divides its group), and
    // one group's last block is zero-padded.
    const bool bias = attrs.bias;
    f.output = define_output(ctx, [&](const Expr &pc, const Expr &px, const Expr &py) {
        Expr value = f.conv(pc % block, px, py, pc / block);
        return bias ? value + ctx.weight("bias")(pc) : value;
    });

    // ---- Schedule --------------------------------------------------------
    f.extents = halide_extents(out);
    f.macs = out.elements() * in_per_group * kw * kh;
    f.weight_bytes = int64_t{4} * block * f.blocks * in_per_group * kw * kh;
    f.input_bytes = int64_t{4} * in.elements();
    if (ctx.gpu()) {
        ConvGpuSchedule schedule = default_conv_gpu_schedule(ctx.target);
        schedule_conv_gpu(f, schedule);
        return {f.output, describe(schedule)};
    }
    schedule_conv_cpu(f, cpu_schedule);
    return {f.output, describe(cpu_schedule) + " block=" + std::to_string(block)};
}

} // namespace lowering
} // namespace strata
