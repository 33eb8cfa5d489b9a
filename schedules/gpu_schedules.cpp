#include "gpu_schedules.h"

#include <algorithm>

namespace strata {

using Halide::Func;
using Halide::TailStrategy;
using Halide::Var;

namespace {

bool is_spatial(const std::vector<int> &extents) {
    return extents.size() == 3 && (extents[1] > 1 || extents[2] > 1);
}

int at_most(int preferred, int extent) {
    return std::max(1, std::min(preferred, extent));
}

// Tiles `output` into blocks of threads, one element per thread: channels
// (dense) by pixels of a row per block, rows across blocks, for feature
// maps; a 1-D run of channels otherwise. Returns the innermost thread Var,
// where per-thread work is computed.
Var tile_output(Func output, const Var &c, const Var &x, const Var &y,
                const std::vector<int> &extents, const GpuTileSchedule &s) {
    if (extents.size() != 3) {
        Var co("co"), ci("ci");
        output.gpu_tile(c, co, ci, at_most(s.threads, extents[0]), TailStrategy::GuardWithIf);
        return ci;
    }
    Var co("co"), xo("xo"), yo("yo"), ci("ci"), xi("xi"), yi("yi");
    output.gpu_tile(c, x, y, co, xo, yo, ci, xi, yi, at_most(s.threads_x, extents[0]),
                    at_most(s.threads_y, extents[1]), 1, TailStrategy::GuardWithIf);
    return ci;
}

} // namespace

GpuTileSchedule default_gpu_tile_schedule(const Halide::Target &) {
    return GpuTileSchedule{};
}

std::string describe(const GpuTileSchedule &s) {
    return "gpu-tile threads_x=" + std::to_string(s.threads_x) +
           " threads_y=" + std::to_string(s.threads_y) + " threads=" + std::to_string(s.threads);
}

ConvGpuSchedule default_conv_gpu_schedule(const Halide::Target &) {
    return ConvGpuSchedule{};
}

std::string describe(const ConvGpuSchedule &s) {
    return "conv-gpu threads_x=" + std::to_string(s.threads_x) +
           " threads_y=" + std::to_string(s.threads_y) +
           " pixels_per_thread=" + std::to_string(s.pixels_per_thread);
}

void schedule_conv_gpu(ConvFuncs f, const ConvGpuSchedule &s) {
    // Blocks of one channel (ConvFuncs::block is 1 on GPUs): each thread
    // sums `pixels_per_thread` pixels of a row, unrolled, in registers. The
    // zero border stays inline: a select per load is cheaper than another
    // kernel launch.
    const int per_thread =
        f.extents[1] % s.pixels_per_thread == 0 ? at_most(s.pixels_per_thread, f.extents[1]) : 1;
    Var xx("xx"), co("co"), xo("xo"), yo("yo"), ci("ci"), xi("xi"), yi("yi");
    f.output.split(f.x, f.x, xx, per_thread, TailStrategy::GuardWithIf).reorder(xx, f.c, f.x, f.y);
    f.output.gpu_tile(f.c, f.x, f.y, co, xo, yo, ci, xi, yi, at_most(s.threads_x, f.extents[0]),
                      at_most(s.threads_y, (f.extents[1] + per_thread - 1) / per_thread), 1,
                      TailStrategy::GuardWithIf);
    f.output.unroll(xx);
    f.conv.compute_at(f.output, ci).unroll(f.x);
    f.conv.update().reorder(f.x, f.r.x, f.r.y, f.r.z).unroll(f.x);
}

void schedule_depthwise_conv_gpu(DepthwiseConvFuncs f, const GpuTileSchedule &s) {
    Var thread = tile_output(f.output, f.c, f.x, f.y, f.extents, s);
    f.conv.compute_at(f.output, thread);
}

void schedule_pool_gpu(PoolFuncs f, const GpuTileSchedule &s) {
    Var thread = tile_output(f.output, f.c, f.x, f.y, f.extents, s);
    f.pool.compute_at(f.output, thread);
}

void schedule_global_pool_gpu(GlobalPoolFuncs f, const GpuTileSchedule &s) {
    Var thread = tile_output(f.output, f.c, f.x, f.y, f.extents, s);
    f.pool.compute_at(f.output, thread);
}

void schedule_linear_gpu(LinearFuncs f, const GpuTileSchedule &s) {
    Var thread = tile_output(f.output, f.c, f.c, f.c, {f.out_features}, s);
    f.linear.compute_at(f.output, thread);
}

void schedule_elementwise_gpu(ElementwiseFuncs f, const GpuTileSchedule &s) {
    // The per-channel tables (batch norm's scale) as a small kernel of their
    // own, so that the main kernel reads them instead of recomputing them.
    for (const Func &table : f.per_channel) {
        Var co("co"), ci("ci");
        Func(table).compute_root().gpu_tile(f.c, co, ci, at_most(s.threads, f.extents[0]),
                                            TailStrategy::GuardWithIf);
    }
    tile_output(f.output, f.c, f.x, f.y, f.extents, s);
}

void schedule_concat_gpu(ConcatFuncs f, const GpuTileSchedule &s) {
    // One kernel per input's copy, a thread per element as for the others.
    for (size_t i = 0; i < f.rs.size(); ++i) {
        Halide::Stage copy = f.output.update(static_cast<int>(i));
        Halide::RVar r = f.rs[i].x;
        Var xo("xo"), xi("xi"), yo("yo"), yi("yi");
        Halide::RVar ro("ro"), ri("ri");
        if (f.extents.size() == 3) {
            copy.gpu_tile(r, f.x, ro, xo, ri, xi, at_most(s.threads_x, f.channels[i]),
                          at_most(s.threads_y, f.extents[1]), TailStrategy::GuardWithIf);
        } else {
            copy.gpu_tile(r, ro, ri, at_most(s.threads, f.channels[i]), TailStrategy::GuardWithIf);
        }
    }
}

void schedule_softmax_gpu(SoftmaxFuncs f, const GpuTileSchedule &s) {
    if (!is_spatial(f.extents)) {
        // One column of channels: its two reductions on a single thread,
        // then one thread per output channel. The exponentials stay inline.
        for (Func reduction : {f.maximum, f.sum}) {
            reduction.compute_root().gpu_single_thread();
            reduction.update().gpu_single_thread();
        }
        tile_output(f.output, f.c, f.x, f.y, f.extents, s);
        return;
    }
    // One thread per pixel, looping over the channels itself.
    Var xo("xo"), yo("yo"), xi("xi"), yi("yi");
    f.output.reorder(f.c, f.x, f.y)
        .gpu_tile(f.x, f.y, xo, yo, xi, yi, at_most(s.threads_x, f.extents[1]),
                  at_most(s.threads_y, f.extents[2]), TailStrategy::GuardWithIf);
    f.maximum.compute_at(f.output, xi);
    f.sum.compute_at(f.output, xi);
}

void schedule_lrn_gpu(LrnFuncs f, const GpuTileSchedule &s) {
    Var thread = tile_output(f.output, f.c, f.x, f.y, f.extents, s);
    f.window_sum.compute_at(f.output, thread);
    if (f.size <= 16) {
        f.window_sum.update().unroll(f.r.x);
    }
}

void schedule_layout_gpu(LayoutFuncs f, const GpuTileSchedule &s) {
    // Dimensions in storage order, innermost first, so a warp writes
    // consecutive floats.
    if (f.to_internal) {
        tile_output(f.output, f.c, f.x, f.y, f.extents, s);
    } else {
        tile_output(f.output, f.x, f.y, f.c, f.extents, s);
    }
}

} // namespace strata
