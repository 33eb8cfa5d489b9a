// Default schedule templates for GPUs (CUDA, and any target with a GPU
// feature).
//
// Every output Func is tiled into blocks and threads, one output element
// (or a short run of output channels, for convs) per thread; reductions are
// computed per thread, in registers, inside the innermost thread loop.
// Boundaries use GuardWithIf, so any extent works. These defaults are meant
// to compile for every layer and be plausible; the tuner refines them.
#pragma once

#include "kernel_funcs.h"

#include <string>

namespace strata {

/// Thread block shape for the layers whose threads each compute one output.
struct GpuTileSchedule {
    int threads_x = 32; // along C (dense), so that a warp reads consecutive floats
    int threads_y = 4;  // along W
    int threads = 128;  // per block when the output is a vector of channels
};
GpuTileSchedule default_gpu_tile_schedule(const Halide::Target &target);
std::string describe(const GpuTileSchedule &schedule);

/// Convolution: each thread accumulates `pixels_per_thread` pixels of one
/// output channel, so a weight is loaded once for all of them; threads run
/// along the dense channels.
struct ConvGpuSchedule {
    int threads_x = 32; // along C
    int threads_y = 4;  // along W
    int pixels_per_thread = 2;
};
ConvGpuSchedule default_conv_gpu_schedule(const Halide::Target &target);
std::string describe(const ConvGpuSchedule &schedule);

void schedule_conv_gpu(ConvFuncs funcs, const ConvGpuSchedule &schedule);
void schedule_depthwise_conv_gpu(DepthwiseConvFuncs funcs, const GpuTileSchedule &schedule);
void schedule_pool_gpu(PoolFuncs funcs, const GpuTileSchedule &schedule);
void schedule_global_pool_gpu(GlobalPoolFuncs funcs, const GpuTileSchedule &schedule);
void schedule_linear_gpu(LinearFuncs funcs, const GpuTileSchedule &schedule);
void schedule_elementwise_gpu(ElementwiseFuncs funcs, const GpuTileSchedule &schedule);
void schedule_concat_gpu(ConcatFuncs funcs, const GpuTileSchedule &schedule);
void schedule_softmax_gpu(SoftmaxFuncs funcs, const GpuTileSchedule &schedule);
void schedule_lrn_gpu(LrnFuncs funcs, const GpuTileSchedule &schedule);
void schedule_layout_gpu(LayoutFuncs funcs, const GpuTileSchedule &schedule);

} // namespace strata
