#include "cpu_schedules.h"

#include <algorithm>
#include <vector>

namespace strata {

using Halide::Func;
using Halide::RVar;
using Halide::TailStrategy;
using Halide::Var;

namespace {

// The largest power of two that is at most `preferred` and at most `extent`.
// One means scalar code. Vectors no wider than the extent keep ShiftInwards
// legal on outputs, whose last vector may then overlap the one before.
int fit_vector(int preferred, int extent) {
    int width = 1;
    while (width * 2 <= std::min(preferred, extent)) {
        width *= 2;
    }
    return width;
}

int round_up_to_power_of_two(int extent) {
    int width = 1;
    while (width < extent) {
        width *= 2;
    }
    return width;
}

int clamp_tile(int preferred, int extent) {
    return std::max(1, std::min(preferred, extent));
}

std::string flag(bool value) {
    return value ? "1" : "0";
}

// A feature map is vectorised along x unless it is a single pixel, where
// only the channels are left to vectorise (after global pooling, or an NF
// vector).
bool is_spatial(const std::vector<int> &extents) {
    return extents.size() == 3 && (extents[0] > 1 || extents[1] > 1);
}

int channel_extent(const std::vector<int> &extents) {
    return extents.back();
}

// Vectorises `func` along its channels (for outputs whose x and y are 1 or
// absent), in blocks of vectors that run in parallel when there are several.
void schedule_channels(Func func, const Var &c, int channels, int vector_width, bool parallel) {
    const int vec = fit_vector(vector_width, channels);
    const int block = vec * 16;
    Var co("co"), ci("ci");
    if (parallel && channels >= 2 * block) {
        func.split(c, co, ci, block, TailStrategy::ShiftInwards).parallel(co);
        func.vectorize(ci, vec);
    } else if (vec > 1) {
        func.vectorize(c, vec, TailStrategy::ShiftInwards);
    }
}

// How a conv schedule covers a row of `width` outputs with vectors.
struct RowVectors {
    int vector = 1;       // lanes per vector
    int tile = 1;         // outputs per register tile, a multiple of `vector`
    bool rounded = false; // one vector rounded up past the row's end
    TailStrategy output_tail = TailStrategy::ShiftInwards;
    TailStrategy update_tail = TailStrategy::RoundUp;
};

// Rows that take whole register tiles use them all, the last tile shifted
// inwards to overlap the one before. A row that fits in one tile but not in
// whole vectors (7, 14 or 28 wide, late in a network) is one tile rounded
// up past the row's end and stored under a guard: 7 of 8 lanes then do
// useful work, against 4 of 16 with narrower, overlapping vectors. The
// extra lanes read the zero border, which the lowering adds for that
// reason (conv_cpu_needs_border); without it their loads are guarded,
// which is correct but slow.
RowVectors row_vectors(const ConvFuncs &f, int vector_width, int tile_x) {
    const int width = f.extents[0];
    RowVectors row;
    row.rounded = conv_cpu_needs_border(width, vector_width, tile_x);
    if (row.rounded) {
        row.vector = std::min(vector_width, round_up_to_power_of_two(width));
        row.tile = (width + row.vector - 1) / row.vector * row.vector;
        row.output_tail = TailStrategy::GuardWithIf;
        row.update_tail = f.padded.defined() ? TailStrategy::RoundUp : TailStrategy::GuardWithIf;
    } else {
        row.vector = fit_vector(vector_width, width);
        row.tile = row.vector * clamp_tile(tile_x, width / row.vector);
    }
    return row;
}

// Halide 14 allocates a producer for the lanes a RoundUp tail adds to its
// consumer, but computes it only over the region the consumer's real lanes
// need: the extra lanes would read uninitialised memory (harmless for the
// result, but denormal garbage slowed a conv 20-fold). Bounding the
// border's extent to what the rounded-up tile reads (itself a whole number
// of vectors, as the border is vectorised too) makes them read zeros.
void bound_rounded_border(ConvFuncs &f, const RowVectors &row) {
    if (row.rounded) {
        int extent = (row.tile - 1) * f.stride_w + (f.kernel_w - 1) * f.dilation_w + 1;
        f.padded.bound_extent(f.x, (extent + row.vector - 1) / row.vector * row.vector);
    }
}

} // namespace

bool conv_cpu_needs_border(int output_width, int vector_width, int tile_x) {
    if (output_width <= 1) {
        return false;
    }
    return output_width < vector_width ||
           (output_width % vector_width != 0 && output_width < vector_width * tile_x);
}

int default_cpu_vector_width(const Halide::Target &target) {
    using Feature = Halide::Target::Feature;
    if (target.has_feature(Feature::AVX512) || target.has_feature(Feature::AVX512_Skylake) ||
        target.has_feature(Feature::AVX512_Cannonlake) ||
        target.has_feature(Feature::AVX512_SapphireRapids)) {
        return 16;
    }
    if (target.has_feature(Feature::AVX2) || target.arch == Halide::Target::ARM) {
        return 8;
    }
    return 4;
}

// ---------------------------------------------------------------------------
// Direct and grouped convolution.
// ---------------------------------------------------------------------------

ConvCpuSchedule default_conv_cpu_schedule(const Halide::Target &target) {
    // Register tiles of tile_x * tile_channels accumulators: 16 of the 32
    // AVX-512 or NEON registers, 8 of AVX2's 16, leaving room for the input
    // vectors and the broadcast weights.
    ConvCpuSchedule schedule;
    schedule.vector_width = default_cpu_vector_width(target);
    schedule.tile_x =
        schedule.vector_width == 16 ? 2 : (target.arch == Halide::Target::ARM ? 1 : 2);
    schedule.tile_channels =
        schedule.vector_width == 16 || target.arch == Halide::Target::ARM ? 8 : 4;
    schedule.parallel = true;
    return schedule;
}

std::string describe(const ConvCpuSchedule &s) {
    return "conv-cpu vector=" + std::to_string(s.vector_width) +
           " tile_x=" + std::to_string(s.tile_x) +
           " tile_channels=" + std::to_string(s.tile_channels) + " parallel=" + flag(s.parallel);
}

void schedule_conv_cpu(ConvFuncs f, const ConvCpuSchedule &s) {
    const int channels = f.extents[2];
    const int tile_c = clamp_tile(s.tile_channels, channels);
    const RowVectors row = row_vectors(f, s.vector_width, s.tile_x);
    Var xo("xo"), xi("xi"), co("co"), ci("ci"), tile("tile");

    // The output in register tiles (row.tile x tile_c), stored after the
    // sum over all taps; tiles of one row, then rows, then channel tiles.
    // Channel tails shift inwards, so every tile has the same, constant size.
    f.output.split(f.x, xo, xi, row.tile, row.output_tail)
        .split(f.c, co, ci, tile_c, TailStrategy::ShiftInwards)
        .reorder(xi, ci, xo, f.y, co)
        .fuse(f.y, co, tile);
    if (row.vector > 1) {
        f.output.vectorize(xi, row.vector);
    }
    f.output.unroll(xi).unroll(ci);
    if (s.parallel) {
        f.output.parallel(tile);
    }

    // The accumulators of one tile: the vectors along x and the channels
    // innermost and unrolled, so they live in registers while the taps and
    // input channels run outside them.
    std::vector<Halide::VarOrRVar> update_order = {f.x, f.c};
    for (int i = 0; i < f.r.dimensions(); ++i) {
        update_order.push_back(f.r[i]);
    }
    f.conv.compute_at(f.output, xo);
    f.conv.update().reorder(update_order);
    if (row.vector > 1) {
        f.conv.vectorize(f.x, row.vector, TailStrategy::RoundUp);
        f.conv.update().vectorize(f.x, row.vector, row.update_tail);
    }
    f.conv.unroll(f.x).unroll(f.c);
    f.conv.update().unroll(f.x).unroll(f.c);

    // The zero border once, before the tiles: every channel tile reads all
    // of it, so computing it per tile would repeat the copy.
    if (f.padded.defined()) {
        f.padded.compute_root().vectorize(f.x, row.vector, TailStrategy::RoundUp);
        bound_rounded_border(f, row);
        if (s.parallel) {
            f.padded.parallel(f.c);
        }
    }
}

// ---------------------------------------------------------------------------
// Depthwise convolution.
// ---------------------------------------------------------------------------

DepthwiseConvCpuSchedule default_depthwise_conv_cpu_schedule(const Halide::Target &target) {
    DepthwiseConvCpuSchedule schedule;
    schedule.vector_width = default_cpu_vector_width(target);
    schedule.tile_x = 4; // a 3x3 window re-reads each input vector nine times from L1
    schedule.parallel = true;
    return schedule;
}

std::string describe(const DepthwiseConvCpuSchedule &s) {
    return "depthwise-conv-cpu vector=" + std::to_string(s.vector_width) +
           " tile_x=" + std::to_string(s.tile_x) + " parallel=" + flag(s.parallel);
}

void schedule_depthwise_conv_cpu(ConvFuncs f, const DepthwiseConvCpuSchedule &s) {
    const RowVectors row = row_vectors(f, s.vector_width, s.tile_x);
    Var xo("xo"), xi("xi");

    // One channel per task; within it rows, then register tiles along x.
    f.output.split(f.x, xo, xi, row.tile, row.output_tail).reorder(xi, xo, f.y, f.c);
    if (row.vector > 1) {
        f.output.vectorize(xi, row.vector);
    }
    f.output.unroll(xi);
    if (s.parallel) {
        f.output.parallel(f.c);
    }

    // Accumulators of one tile in registers; the taps unrolled when the
    // window is small enough for the code to stay compact.
    f.conv.compute_at(f.output, xo);
    f.conv.update().reorder(f.x, f.r.x, f.r.y);
    if (row.vector > 1) {
        f.conv.vectorize(f.x, row.vector, TailStrategy::RoundUp);
        f.conv.update().vectorize(f.x, row.vector, row.update_tail);
    }
    f.conv.unroll(f.x);
    f.conv.update().unroll(f.x);
    if (f.kernel_w <= 7) {
        f.conv.update().unroll(f.r.x);
    }

    // The padded plane of the channel being computed, while it is hot.
    if (f.padded.defined()) {
        f.padded.compute_at(f.output, f.c).vectorize(f.x, row.vector, TailStrategy::RoundUp);
        bound_rounded_border(f, row);
    }
}

// ---------------------------------------------------------------------------
// Pooling.
// ---------------------------------------------------------------------------

PoolCpuSchedule default_pool_cpu_schedule(const Halide::Target &target) {
    PoolCpuSchedule schedule;
    schedule.vector_width = default_cpu_vector_width(target);
    schedule.parallel = true;
    return schedule;
}

std::string describe(const PoolCpuSchedule &s) {
    return "pool-cpu vector=" + std::to_string(s.vector_width) + " parallel=" + flag(s.parallel);
}

void schedule_pool_cpu(PoolFuncs f, const PoolCpuSchedule &s) {
    const int width = f.extents[0];
    const int vec = fit_vector(s.vector_width, width);
    Var xo("xo"), xi("xi");

    // A channel per task, then rows, then vectors along x.
    f.output.split(f.x, xo, xi, vec, TailStrategy::ShiftInwards).reorder(xi, xo, f.y, f.c);
    if (vec > 1) {
        f.output.vectorize(xi);
    }
    if (s.parallel) {
        f.output.parallel(f.c);
    }

    // The window's reduction on one output vector, taps outside it.
    f.pool.compute_at(f.output, xo);
    f.pool.update().reorder(f.x, f.r.x, f.r.y);
    if (vec > 1) {
        f.pool.vectorize(f.x);
        f.pool.update().vectorize(f.x);
    }
    if (f.kernel_w <= 7) {
        f.pool.update().unroll(f.r.x);
    }

    // The bordered plane of the current channel, computed while it is hot.
    if (f.padded.defined()) {
        f.padded.compute_at(f.output, f.c).vectorize(f.x, vec, TailStrategy::RoundUp);
    }
}

void schedule_global_pool_cpu(GlobalPoolFuncs f, const PoolCpuSchedule &s) {
    const int channels = channel_extent(f.extents);
    const int vec = fit_vector(s.vector_width, channels);
    // Up to four vectors per block; a whole number of them, so that the
    // reduction's vectors fit the block exactly.
    const int block = vec * clamp_tile(4, channels / vec);
    Var co("co"), ci("ci");

    // Vectors across channels: each lane sums its own plane, so the loads
    // are gathers, but the whole layer reads its input exactly once.
    f.output.split(f.c, co, ci, block, TailStrategy::ShiftInwards);
    if (vec > 1) {
        f.output.vectorize(ci, vec);
    }
    if (s.parallel && channels > block) {
        f.output.parallel(co);
    }
    f.pool.compute_at(f.output, co);
    f.pool.update().reorder(f.c, f.r.x, f.r.y);
    if (vec > 1) {
        f.pool.vectorize(f.c, vec);
        f.pool.update().vectorize(f.c, vec);
    }
}

// ---------------------------------------------------------------------------
// Linear.
// ---------------------------------------------------------------------------

LinearCpuSchedule default_linear_cpu_schedule(const Halide::Target &target) {
    LinearCpuSchedule schedule;
    schedule.vector_width = default_cpu_vector_width(target);
    schedule.tile_outputs = 4; // four weight streams: enough to hide load latency
    schedule.parallel = true;
    return schedule;
}

std::string describe(const LinearCpuSchedule &s) {
    return "linear-cpu vector=" + std::to_string(s.vector_width) +
           " tile_outputs=" + std::to_string(s.tile_outputs) + " parallel=" + flag(s.parallel);
}

void schedule_linear_cpu(LinearFuncs f, const LinearCpuSchedule &s) {
    const int vec = fit_vector(s.vector_width, f.in_features);
    const int tile = clamp_tile(s.tile_outputs, f.out_features);
    Var co("co"), ci("ci"), lane("lane");
    RVar ro("ro"), ri("ri");

    // Tiles of output features; a task takes several tiles so that tiny
    // layers do not drown in scheduling overhead.
    f.output.split(f.c, co, ci, tile, TailStrategy::ShiftInwards);
    if (s.parallel && f.out_features >= 4 * tile) {
        f.output.parallel(co);
    }
    f.linear.compute_at(f.output, co);
    if (vec == 1) {
        return;
    }

    // Each dot product as `vec` partial sums over dense slices of its weight
    // row (rfactor), the tile's rows side by side; the partial sums are then
    // added up once per output. The guard covers in_features % vec != 0.
    Func partial =
        f.linear.update().split(f.r.x, ro, ri, vec, TailStrategy::GuardWithIf).rfactor(ri, lane);
    partial.compute_at(f.output, co).vectorize(lane);
    partial.update().reorder(lane, f.c, ro).vectorize(lane).unroll(f.c);
}

// ---------------------------------------------------------------------------
// Element-wise layers and the channel-wise normalisations.
// ---------------------------------------------------------------------------

ElementwiseCpuSchedule default_elementwise_cpu_schedule(const Halide::Target &target) {
    ElementwiseCpuSchedule schedule;
    schedule.vector_width = default_cpu_vector_width(target);
    schedule.parallel = true;
    return schedule;
}

std::string describe(const ElementwiseCpuSchedule &s) {
    return "elementwise-cpu vector=" + std::to_string(s.vector_width) +
           " parallel=" + flag(s.parallel);
}

void schedule_elementwise_cpu(ElementwiseFuncs f, const ElementwiseCpuSchedule &s) {
    const int channels = channel_extent(f.extents);
    for (const Func &table : f.per_channel) {
        Func(table).compute_root();
        const int vec = fit_vector(s.vector_width, channels);
        if (vec > 1) {
            // ShiftInwards: the tables read weights, which must not be read
            // past their end.
            Func(table).vectorize(f.c, vec, TailStrategy::ShiftInwards);
        }
    }

    if (!is_spatial(f.extents)) {
        schedule_channels(f.output, f.c, channels, s.vector_width, s.parallel);
        return;
    }
    const int vec = fit_vector(s.vector_width, f.extents[0]);
    Var rows("rows");
    if (vec > 1) {
        f.output.vectorize(f.x, vec, TailStrategy::ShiftInwards);
    }
    f.output.fuse(f.y, f.c, rows);
    if (s.parallel) {
        f.output.parallel(rows);
    }
}

void schedule_softmax_cpu(SoftmaxFuncs f, const ElementwiseCpuSchedule &s) {
    const int channels = channel_extent(f.extents);
    if (!is_spatial(f.extents)) {
        // A single column of channels (the classifier's output): the two
        // reductions are serial, the exponentials and the output vectorised.
        f.maximum.compute_root();
        f.sum.compute_root();
        f.exp.compute_root();
        const int vec = fit_vector(s.vector_width, channels);
        if (vec > 1) {
            f.exp.vectorize(f.c, vec, TailStrategy::ShiftInwards);
        }
        schedule_channels(f.output, f.c, channels, s.vector_width, false);
        return;
    }

    // Per output vector along x: its maximum and sum over the channels and
    // its exponentials, then every channel of the output.
    const int vec = fit_vector(s.vector_width, f.extents[0]);
    Var xo("xo"), xi("xi");
    f.output.split(f.x, xo, xi, vec, TailStrategy::ShiftInwards).reorder(xi, f.c, xo, f.y);
    for (Func reduction : {f.maximum, f.sum}) {
        reduction.compute_at(f.output, xo);
        reduction.update().reorder(f.x, f.r.x);
        if (vec > 1) {
            reduction.vectorize(f.x);
            reduction.update().vectorize(f.x);
        }
    }
    f.exp.compute_at(f.output, xo);
    if (vec > 1) {
        f.output.vectorize(xi);
        f.exp.vectorize(f.x);
    }
    if (s.parallel) {
        f.output.parallel(f.y);
    }
}

void schedule_lrn_cpu(LrnFuncs f, const ElementwiseCpuSchedule &s) {
    const int channels = channel_extent(f.extents);
    if (!is_spatial(f.extents)) {
        const int vec = fit_vector(s.vector_width, channels);
        f.square.compute_root();
        f.window_sum.compute_root();
        if (vec > 1) {
            // RoundUp reads `square` past the channels, where it is zero.
            f.square.vectorize(f.c, vec, TailStrategy::RoundUp);
            f.window_sum.vectorize(f.c, vec, TailStrategy::ShiftInwards);
            f.window_sum.update()
                .reorder(f.c, f.r.x)
                .vectorize(f.c, vec, TailStrategy::GuardWithIf);
        }
        schedule_channels(f.output, f.c, channels, s.vector_width, false);
        return;
    }

    // A row at a time: the squares of the row for every channel, then per
    // output vector the sum over the window of channels.
    const int vec = fit_vector(s.vector_width, f.extents[0]);
    Var xo("xo"), xi("xi");
    f.output.split(f.x, xo, xi, vec, TailStrategy::ShiftInwards).reorder(xi, xo, f.c, f.y);
    f.square.compute_at(f.output, f.y);
    f.window_sum.compute_at(f.output, xo);
    f.window_sum.update().reorder(f.x, f.r.x);
    if (f.size <= 16) {
        f.window_sum.update().unroll(f.r.x);
    }
    if (vec > 1) {
        f.output.vectorize(xi);
        // Not RoundUp: the border is along c only, x must stay inside.
        f.square.vectorize(f.x, vec, TailStrategy::ShiftInwards);
        f.window_sum.vectorize(f.x);
        f.window_sum.update().vectorize(f.x);
    }
    if (s.parallel) {
        f.output.parallel(f.y);
    }
}

} // namespace strata
