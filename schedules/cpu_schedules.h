// Default schedule templates for CPUs with vector units (AVX-512, AVX2,
// SSE4.1, NEON).
//
// One template per kind of layer. Each takes the Funcs of its algorithm
// (kernel_funcs.h) and a small struct of named parameters, the knobs a tuner
// searches; `default_*_cpu_schedule(target)` gives values that are good
// without tuning. Feature maps are channels-innermost, so every template
// vectorises across channels: a 7x7 map fills its vectors as well as a
// 112x112 one. Every template:
// - never writes an output past its end: channel counts that are not a
//   multiple of the vector end with a vector shifted inwards (overlapping
//   the one before) or, for blocked convs, a guarded last block;
// - runs on one thread when the whole layer is less work than waking the
//   thread pool costs (kMinParallelWork), and otherwise parallelises its
//   outermost loop in tasks of at least that much work;
// - schedules the update definition of every reduction, so the sum over a
//   window runs with its accumulators in registers.
#pragma once

#include "kernel_funcs.h"

#include <cstdint>
#include <string>

namespace strata {

/// Multiply-accumulates (or elements, for layers without a reduction) below
/// which a kernel runs on one thread: waking the thread pool costs about
/// 0.3 ms on the development machine, this much work about as long.
constexpr int64_t kMinParallelWork = 200000;

/// The float vector width the templates aim for: 16 for AVX-512, 8 for AVX2
/// and 64-bit ARM (two NEON registers per vector), 4 otherwise.
int default_cpu_vector_width(const Halide::Target &target);

/// Direct and grouped convolution over blocked output channels (ConvFuncs).
/// The output is cut into register tiles of `tile_blocks` channel blocks
/// (vectors) by `tile_x` pixels of one row, each summed over all input
/// channels and taps in registers before it is stored: per input channel
/// and tap, `tile_blocks` dense weight loads, `tile_x` broadcast inputs and
/// their product of FMAs. Weights up to `cache_bytes`, and no larger than
/// the input, are swept once per pixel tile (inputs stay in L1, tasks are
/// bands of rows); others a channel tile at a time over all rows (tasks
/// pair channel tiles with bands). Maps narrower than half a tile take
/// tiles that span rows, with the input channels reduced in chunks of
/// `chunk_bytes` of weights that stay in L1 across the task's tiles. The zero border is stored
/// with the input (plan_memory.h) or, where it cannot be, a padded copy of
/// the input per task.
struct ConvCpuSchedule {
    int vector_width = 8;      // output channels per block, the packed weight's lanes
    int tile_blocks = 2;       // blocks per register tile (at most; a divisor of the blocks)
    int tile_x = 6;            // pixels per register tile (a divisor of the row near it)
    int tasks = 16;            // parallel tasks to aim for
    int cache_bytes = 1 << 20; // see above
    int chunk_bytes = 32768;   // see above; 0 turns the chunked form off
    /// Weights read from memory (direct convs' past `cache_bytes`, staged
    /// Winograd products') are prefetched this many input channels ahead
    /// of the reduction; 0 leaves it to the hardware.
    int prefetch_channels = 64;
    /// Channel tiles of weights up to this many bytes, read from memory,
    /// also prefetch the next tile's as they run.
    int prefetch_tile_bytes = 128 << 10;
    bool parallel = true;
    /// 3x3, stride-1 convs with at least `winograd_min_channels` input and
    /// output channels may use Winograd F(m x m, 3 x 3), m = 2 or 4 up to
    /// `winograd_max_tile` (0: always direct), whichever form
    /// choose_winograd_tile estimates fastest. The products use the
    /// register tile above, with tiles of m x m outputs in place of pixels.
    int winograd_max_tile = 4;
    int winograd_min_channels = 16;
    /// The cost model's price of a byte moved to or from memory, in
    /// multiply-accumulates.
    int macs_per_memory_byte = 8;
    /// A Winograd form runs per band of rows, each band sweeping the
    /// transformed weights from the cache, when they fit in `cache_bytes`,
    /// or in `winograd_banded_bytes` (L3) and the sweeps move fewer bytes
    /// than staging; otherwise it stages the transformed input and products
    /// of the whole map: at most `winograd_staging_bytes` of them, beyond
    /// which the form is not used.
    int winograd_banded_bytes = 3 << 20;
    int winograd_staging_bytes = 16 << 20;
};
ConvCpuSchedule default_conv_cpu_schedule(const Halide::Target &target);
std::string describe(const ConvCpuSchedule &schedule);
void schedule_conv_cpu(ConvFuncs funcs, const ConvCpuSchedule &schedule);
/// F(m x m, 3 x 3) of a conv from `in_channels` to `out_channels`, its
/// output `width` x `height`, in blocks of `block` output channels.
WinogradSizes winograd_sizes(int m, int in_channels, int out_channels, int block, int width,
                             int height);
/// For a 3x3, stride-1 conv from `in_channels` to `out_channels` with an
/// output of `width` x `height`: the Winograd tile m (2 or 4) of the
/// fastest form by the schedule's cost model, or 0 for the direct form.
int choose_winograd_tile(const ConvCpuSchedule &schedule, int in_channels, int out_channels,
                         int width, int height);
void schedule_winograd_conv_cpu(WinogradConvFuncs funcs, const ConvCpuSchedule &schedule);

/// Depthwise convolution: a vector of channels by `tile_x` pixels by
/// `tile_y` rows per register tile, the zero border a select on each load.
/// Rows up to `narrow_row_x` pixels wide take tiles of up to
/// `narrow_tile_x` pixels instead (a divisor of the row where one is near,
/// as for direct convs).
struct DepthwiseConvCpuSchedule {
    int vector_width = 8;
    int tile_x = 4; // pixels per register tile: a 3x3 window re-reads each input vector
    int tile_y = 1; // rows per register tile (a divisor of the map's height near it)
    int narrow_row_x = 4;
    int narrow_tile_x = 4;
    int tasks = 16;
    bool parallel = true;
};
DepthwiseConvCpuSchedule default_depthwise_conv_cpu_schedule(const Halide::Target &target);
std::string describe(const DepthwiseConvCpuSchedule &schedule);
void schedule_depthwise_conv_cpu(DepthwiseConvFuncs funcs,
                                 const DepthwiseConvCpuSchedule &schedule);

/// Window pooling (max, average) and global pooling, vectors across channels.
struct PoolCpuSchedule {
    int vector_width = 8;
    int tile_x = 4; // pixels per tile
    int tasks = 16;
    bool parallel = true;
};
PoolCpuSchedule default_pool_cpu_schedule(const Halide::Target &target);
std::string describe(const PoolCpuSchedule &schedule);
void schedule_pool_cpu(PoolFuncs funcs, const PoolCpuSchedule &schedule);
void schedule_global_pool_cpu(GlobalPoolFuncs funcs, const PoolCpuSchedule &schedule);

/// Linear: the dot products are split into `vector_width` partial sums
/// (rfactor) so that the weight rows are read with dense vector loads, and
/// `tile_outputs` rows are read together; the weights stream once.
struct LinearCpuSchedule {
    int vector_width = 8;
    int tile_outputs = 8; // weight rows per register tile
    bool parallel = true; // over tiles of outputs
};
LinearCpuSchedule default_linear_cpu_schedule(const Halide::Target &target);
std::string describe(const LinearCpuSchedule &schedule);
void schedule_linear_cpu(LinearFuncs funcs, const LinearCpuSchedule &schedule);

/// Element-wise layers, layout conversions, and the channel-wise
/// normalisations (softmax, LRN), which read a column of channels at each
/// position.
struct ElementwiseCpuSchedule {
    int vector_width = 8;
    bool parallel = true; // over rows, when the layer is big enough
};
ElementwiseCpuSchedule default_elementwise_cpu_schedule(const Halide::Target &target);
std::string describe(const ElementwiseCpuSchedule &schedule);
void schedule_elementwise_cpu(ElementwiseFuncs funcs, const ElementwiseCpuSchedule &schedule);
void schedule_concat_cpu(ConcatFuncs funcs, const ElementwiseCpuSchedule &schedule);
void schedule_softmax_cpu(SoftmaxFuncs funcs, const ElementwiseCpuSchedule &schedule);
void schedule_lrn_cpu(LrnFuncs funcs, const ElementwiseCpuSchedule &schedule);
void schedule_layout_cpu(LayoutFuncs funcs, const ElementwiseCpuSchedule &schedule);

} // namespace strata
