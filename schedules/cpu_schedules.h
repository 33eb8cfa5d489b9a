// Default schedule templates for CPUs with vector units (AVX2, AVX-512, NEON).
//
// One template per kind of layer. Each takes the Funcs of its algorithm
// (kernel_funcs.h) and a small struct of named parameters, the knobs a tuner
// searches; `default_*_cpu_schedule(target)` gives values that are good
// without tuning. Every template:
// - vectorises along x (W, dense in memory) by at most `vector_width`
//   floats. Outputs are never written past their end: rows at least a
//   vector wide end with a vector shifted inwards (overlapping the one
//   before), narrower ones take the largest power of two that fits, so a
//   7x7 or 1x1 feature map works. Convs instead round a short row up to
//   whole vectors and store it under a guard (conv_cpu_needs_border);
// - parallelises the outermost loop (channels, or channel tiles fused with
//   rows) when `parallel` is set;
// - schedules the update definition of every reduction, so the sum over a
//   window runs with its accumulators in registers.
#pragma once

#include "kernel_funcs.h"

#include <string>

namespace strata {

/// The float vector width the templates aim for: 16 for AVX-512, 8 for AVX2
/// and 64-bit ARM (two NEON registers per vector), 4 otherwise.
int default_cpu_vector_width(const Halide::Target &target);

/// Whether a conv schedule with `vector_width` and `tile_x` vectors per tile
/// computes a row of `output_width` as one register tile rounded up past the
/// row's end. The extra lanes read past the input, so the lowering must give
/// the conv a zero border (ConvFuncs::padded) even when no window needs one.
bool conv_cpu_needs_border(int output_width, int vector_width, int tile_x);

/// Direct and grouped convolution: the output is cut into tiles of
/// `tile_x` vectors along x by `tile_channels` output channels, each summed
/// over all taps in registers before it is stored.
struct ConvCpuSchedule {
    int vector_width = 8;
    int tile_x = 2;        // vectors along x per register tile
    int tile_channels = 4; // output channels per register tile
    bool parallel = true;  // over (channel tile, row) pairs
};
ConvCpuSchedule default_conv_cpu_schedule(const Halide::Target &target);
std::string describe(const ConvCpuSchedule &schedule);
void schedule_conv_cpu(ConvFuncs funcs, const ConvCpuSchedule &schedule);

/// Depthwise convolution: one channel at a time, the zero-padded plane
/// computed per channel so that it stays in cache.
struct DepthwiseConvCpuSchedule {
    int vector_width = 8;
    int tile_x = 2;       // vectors along x per register tile
    bool parallel = true; // over channels
};
DepthwiseConvCpuSchedule default_depthwise_conv_cpu_schedule(const Halide::Target &target);
std::string describe(const DepthwiseConvCpuSchedule &schedule);
void schedule_depthwise_conv_cpu(ConvFuncs funcs, const DepthwiseConvCpuSchedule &schedule);

/// Window pooling (max, average) and global pooling.
struct PoolCpuSchedule {
    int vector_width = 8;
    bool parallel = true; // over channels
};
PoolCpuSchedule default_pool_cpu_schedule(const Halide::Target &target);
std::string describe(const PoolCpuSchedule &schedule);
void schedule_pool_cpu(PoolFuncs funcs, const PoolCpuSchedule &schedule);
void schedule_global_pool_cpu(GlobalPoolFuncs funcs, const PoolCpuSchedule &schedule);

/// Linear: the dot products are split into `vector_width` partial sums
/// (rfactor) so that the weight rows are read with dense vector loads, and
/// `tile_outputs` rows are read together.
struct LinearCpuSchedule {
    int vector_width = 8;
    int tile_outputs = 4; // weight rows per register tile
    bool parallel = true; // over tiles of outputs
};
LinearCpuSchedule default_linear_cpu_schedule(const Halide::Target &target);
std::string describe(const LinearCpuSchedule &schedule);
void schedule_linear_cpu(LinearFuncs funcs, const LinearCpuSchedule &schedule);

/// Element-wise layers, and the channel-wise normalisations (softmax, LRN),
/// which read a column of channels at each position.
struct ElementwiseCpuSchedule {
    int vector_width = 8;
    bool parallel = true; // over (channel, row) pairs
};
ElementwiseCpuSchedule default_elementwise_cpu_schedule(const Halide::Target &target);
std::string describe(const ElementwiseCpuSchedule &schedule);
void schedule_elementwise_cpu(ElementwiseFuncs funcs, const ElementwiseCpuSchedule &schedule);
void schedule_softmax_cpu(SoftmaxFuncs funcs, const ElementwiseCpuSchedule &schedule);
void schedule_lrn_cpu(LrnFuncs funcs, const ElementwiseCpuSchedule &schedule);

} // namespace strata
