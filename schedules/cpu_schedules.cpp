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

int clamp_tile(int preferred, int extent) {
    return std::max(1, std::min(preferred, extent));
}

// The largest divisor of `extent` that is at most `preferred`.
int divisor_at_most(int extent, int preferred) {
    for (int d = std::min(preferred, extent); d > 1; --d) {
        if (extent % d == 0) {
            return d;
        }
    }
    return 1;
}

// Pixels per register tile along a row of `width`: the row itself when it
// fits, else the largest divisor of the row in (preferred / 2, preferred]
// (14 for rows of 28, 56, 112 and 224 when 14 is preferred), so that no
// tile overlaps another, else `preferred` with the last tile shifted
// inwards. Never more than `preferred`: one accumulator past the register
// file spills on every step (measured: 7 pixels where AVX2 plans 6 halved
// the speed, worse than redoing the overlap of a shifted tile).
int row_tile(int width, int preferred) {
    if (width <= preferred) {
        return width;
    }
    for (int d = preferred; d > preferred / 2; --d) {
        if (width % d == 0) {
            return d;
        }
    }
    return preferred;
}

// Rows per parallel task: a divisor of `height` that makes about
// `tasks / other_tasks` bands, each at least kMinParallelWork of work.
int band_rows(int height, int other_tasks, int tasks, int64_t work_per_row) {
    int bands = std::max(1, (tasks + other_tasks - 1) / other_tasks);
    int rows = std::max(1, height / bands);
    while (rows < height && work_per_row * rows < kMinParallelWork) {
        ++rows;
    }
    return divisor_at_most(height, rows);
}

std::string flag(bool value) {
    return value ? "1" : "0";
}

bool is_spatial(const std::vector<int> &extents) {
    return extents.size() == 3 && (extents[1] > 1 || extents[2] > 1);
}

int64_t elements_of(const std::vector<int> &extents) {
    int64_t n = 1;
    for (int e : extents) {
        n *= e;
    }
    return n;
}

// Vectorises `func` along `c` (dense), a last partial vector shifted inwards.
void vectorize_channels(Func func, const Var &c, int channels, int vector_width) {
    const int vec = fit_vector(vector_width, channels);
    if (vec > 1) {
        func.vectorize(c, vec, TailStrategy::ShiftInwards);
    }
}

// Vectorises `func` along its channels (for outputs whose x and y are 1 or
// absent), in blocks of vectors that run in parallel when there is enough.
void schedule_channels(Func func, const Var &c, int channels, int vector_width, bool parallel) {
    const int vec = fit_vector(vector_width, channels);
    const int block = vec * 16;
    Var co("co"), ci("ci");
    if (parallel && channels >= 4 * block && channels >= kMinParallelWork) {
        func.split(c, co, ci, block, TailStrategy::ShiftInwards).parallel(co);
        func.vectorize(ci, vec);
    } else if (vec > 1) {
        func.vectorize(c, vec, TailStrategy::ShiftInwards);
    }
}

// The loops of a (c, x, y) output cut into tiles of one channel vector by
// `tile_x` pixels by `tile_y` rows, tasks of bands of rows. Returns the Var
// of one tile, where its reduction is computed.
struct ChannelTiles {
    Var tile;
    bool parallel = false;
};

ChannelTiles tile_channels_by_pixels(Func output, const Var &c, const Var &x, const Var &y,
                                     const std::vector<int> &extents, int vector_width, int tile_x,
                                     int tasks, bool parallel, int64_t work, int tile_y = 1) {
    const int channels = extents[0], width = extents[1], height = extents[2];
    const int vec = fit_vector(vector_width, channels);
    const int tx = row_tile(width, tile_x);
    Var co("co"), ci("ci"), xo("xo"), xi("xi"), yo("yo"), yi("yi"), yt("yt"), yr("yr");
    output.split(c, co, ci, vec, TailStrategy::ShiftInwards)
        .split(x, xo, xi, tx, TailStrategy::ShiftInwards);
    // Tiles of ty rows (a divisor of the height), in bands of whole tiles.
    int ty = std::max(1, tile_y);
    while (height % ty != 0) {
        --ty;
    }
    const int band = band_rows(height, 1, tasks, work / height);
    const int rows = ty * divisor_at_most(height / ty, std::max(1, band / ty));
    output.split(y, yo, yi, rows, TailStrategy::ShiftInwards)
        .split(yi, yt, yr, ty)
        .reorder(ci, xi, yr, co, xo, yt, yo);
    if (vec > 1) {
        output.vectorize(ci);
    }
    output.unroll(xi).unroll(yr);
    ChannelTiles tiles;
    tiles.tile = co;
    tiles.parallel = parallel && work >= 2 * kMinParallelWork && rows < height;
    if (tiles.parallel) {
        output.parallel(yo);
    }
    return tiles;
}

} // namespace

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
    // A register tile of tile_blocks x tile_x accumulators, with the
    // tile_blocks weight vectors and one broadcast input beside them. On
    // AVX-512, 2 x 7: every row of ResNet, VGG and MobileNet (224 to 7) is a
    // whole number of 7-pixel tiles, and a 7x7 map needs no tiles across
    // rows. Measured on the development machine (AMD EPYC, Zen 4) against
    // 2 x 14, layer by layer on ResNet-50: the same on 56x56 and 28x28 maps,
    // 1.35x on 14x14 and 7x7 (1x1 1024->256 at 14x14: 86 -> 117 GFLOP/s on
    // one thread; why the wider tile loses there is not pinned down), and
    // 3 x 7, 4 x 7 and 4 x 4 were slower. On a Zen 5 machine (full-width
    // AVX-512) the same tile reaches 98-100% of the FMA peak with its data
    // in L1 and 85-100% on most of ResNet-50's 1x1 convs; the other tiles
    // were not measured there, nor on Intel, whose two 512-bit FMA ports
    // may prefer the wider tile. AVX2
    // and SSE4.1: 2 x 6 = 12 of their 16 registers; NEON's 8-float vectors
    // are register pairs, 24 of its 32 registers.
    ConvCpuSchedule schedule;
    schedule.vector_width = default_cpu_vector_width(target);
    schedule.tile_blocks = 2;
    schedule.tile_x = schedule.vector_width == 16 ? 7 : 6;
    schedule.chunk_bytes = 32768; // two thirds of a 48 KiB L1
    // Three quarters of a 1 MiB L2, leaving room for the rows of input
    // and output beside the weights: ResNet-50's 1 MiB 1x1s of layer3
    // (256 <-> 1024 at 14x14) swept per pixel tile ran at 84-91% of peak,
    // at 87-93% a channel tile at a time over all rows (one thread, Zen 5;
    // layer3's conv3 0.44 -> 0.41 ms, two alternating runs each).
    schedule.cache_bytes = 768 << 10;
    schedule.tasks = 16;
    schedule.parallel = true;
    return schedule;
}

std::string describe(const ConvCpuSchedule &s) {
    return "conv-cpu vector=" + std::to_string(s.vector_width) +
           " tile_blocks=" + std::to_string(s.tile_blocks) + " tile_x=" + std::to_string(s.tile_x) +
           " tasks=" + std::to_string(s.tasks) + " cache_bytes=" + std::to_string(s.cache_bytes) +
           " chunk_bytes=" + std::to_string(s.chunk_bytes) +
           " prefetch_channels=" + std::to_string(s.prefetch_channels) +
           " prefetch_tile_bytes=" + std::to_string(s.prefetch_tile_bytes) +
           " parallel=" + flag(s.parallel);
}

namespace {

// The window's taps (kw * kh), from the packed weight's size.
int taps_of(const ConvFuncs &f) {
    return static_cast<int>(f.weight_bytes /
                            (int64_t{4} * f.block * f.blocks * f.in_channels_per_group));
}

// The conv with its reduction over input channels cut into chunks whose
// weights stay in L1 while every register tile of the task uses them.
void schedule_conv_cpu_chunked(ConvFuncs f, const ConvCpuSchedule &s) {
    const int channels = f.extents[0], width = f.extents[1], height = f.extents[2];
    const int block = f.block;
    const int tile_blocks = divisor_at_most(f.blocks, s.tile_blocks);
    const int tx = row_tile(width, s.tile_x);
    const int ty = width < s.tile_x ? std::max(1, std::min(height, s.tile_x / width)) : 1;
    const int taps = taps_of(f);
    const int chunk = divisor_at_most(
        f.in_channels_per_group, std::max(1, s.chunk_bytes / (4 * block * tile_blocks * taps)));
    const int channel_tiles = f.blocks / tile_blocks;

    // Tasks: (group of channel tiles, band of rows). Weights that fit in
    // the cache are shared by all tasks; larger ones are split between
    // them, so that each task reads its part of the weights once.
    int groups = 1;
    if (f.weight_bytes > s.cache_bytes) {
        groups = divisor_at_most(channel_tiles, s.tasks);
    }
    const int group_blocks = f.blocks / groups;
    const int rows = band_rows(height, groups, s.tasks, f.macs / height / groups);
    Var cb("cbo"), lane("lo"), cg("cg"), cbl("cbl"), yo("yo"), yi("yi"), task("task");
    f.output
        .split(f.c, cb, lane, block,
               channels % block == 0 ? TailStrategy::Auto : TailStrategy::GuardWithIf)
        .split(cb, cg, cbl, group_blocks)
        .split(f.y, yo, yi, rows)
        .reorder(lane, cbl, f.x, yi, yo, cg)
        .fuse(yo, cg, task);
    if (block > 1) {
        f.output.vectorize(lane);
    }
    if (s.parallel && f.macs >= 2 * kMinParallelWork) {
        f.output.parallel(task);
    }

    // The task's accumulators in memory (L1 or L2), in register tiles of
    // tile_blocks x tx x ty summed over one chunk of input channels at a
    // time; all tiles of the task use the chunk's weights before the next.
    f.conv.compute_at(f.output, task);
    if (block > 1) {
        f.conv.vectorize(f.lane, block);
    }
    Var xo("xo"), xi("xi"), yo2("yo2"), yi2("yi2"), cbo("cbo2"), cbi("cbi2");
    Halide::RVar rco("rco"), rci("rci");
    f.conv.update()
        .split(f.x, xo, xi, tx, width % tx == 0 ? TailStrategy::Auto : TailStrategy::GuardWithIf)
        .split(f.y, yo2, yi2, ty, TailStrategy::GuardWithIf)
        .split(f.cb, cbo, cbi, tile_blocks)
        .split(f.r.x, rco, rci, chunk)
        .reorder(f.lane, cbi, xi, yi2, rci, f.r.y, f.r.z, xo, yo2, cbo, rco);
    if (block > 1) {
        f.conv.update().vectorize(f.lane, block);
    }
    f.conv.update().unroll(cbi).unroll(xi).unroll(yi2);

    if (f.padded.defined()) {
        f.padded.compute_at(f.output, task);
        const int vec = fit_vector(s.vector_width, f.in_channels_per_group);
        if (vec > 1) {
            f.padded.vectorize(f.padded.args()[0], vec, TailStrategy::ShiftInwards);
        }
    }
}

} // namespace

void schedule_conv_cpu(ConvFuncs f, const ConvCpuSchedule &s) {
    // Rows narrower than half a register tile (3 pixels or fewer with the
    // defaults): tiles span rows, which only the chunked form allows, and
    // each row band holds too few tiles to reuse the weights of a channel
    // tile from L2 otherwise.
    if (s.chunk_bytes > 0 && 2 * f.extents[1] <= s.tile_x) {
        schedule_conv_cpu_chunked(f, s);
        return;
    }
    const int channels = f.extents[0], width = f.extents[1], height = f.extents[2];
    const int block = f.block;
    // Blocks that tiles of tile_blocks do not divide but tiles of one more
    // do take those on AVX-512 (3 x 7 = 21 accumulators of its 32
    // registers), rather than shifting the last tile inwards over blocks
    // already computed: MobileNet V2's 24 -> 144 convs at 56x56 (9 blocks),
    // 0.096 -> 0.085 ms on one thread (two alternating runs each). Tiles of 3 everywhere were
    // slower on ResNet-50, whose blocks are even.
    int tile_blocks = clamp_tile(s.tile_blocks, f.blocks);
    if (f.blocks % tile_blocks != 0 && f.blocks % (tile_blocks + 1) == 0 && s.vector_width == 16) {
        ++tile_blocks;
    }
    // A conv of one block takes twice the pixels on AVX-512, so that its
    // tile still has 14 independent chains of FMAs, enough to hide their
    // latency: MobileNet V2's 32 -> 16 conv at 112x112, 0.068 -> 0.062 ms
    // on one thread (three alternating runs each).
    const int tx = row_tile(width, f.blocks == 1 && s.vector_width == 16 ? 2 * s.tile_x : s.tile_x);
    const int channel_tiles = (f.blocks + tile_blocks - 1) / tile_blocks;
    Var cb("cbo"), lane("lo"), co("co"), cbi("cbi"), xo("xo"), xi("xi"), yo("yo"), yi("yi"),
        task("task");

    // Output channel c = (co * tile_blocks + cbi) * block + lane: a tile is
    // tile_blocks whole blocks by tx pixels of one row. Only a last block
    // past the channels is guarded; the last channel tile (of an odd number
    // of blocks) and the last x tile shift inwards, whole blocks still.
    f.output
        .split(f.c, cb, lane, block,
               channels % block == 0 ? TailStrategy::Auto : TailStrategy::GuardWithIf)
        .split(cb, co, cbi, tile_blocks, TailStrategy::ShiftInwards)
        .split(f.x, xo, xi, tx, TailStrategy::ShiftInwards);

    // Weights that fit in the cache: every channel tile of a pixel tile in
    // turn, so that the pixels' inputs (most of the loads) stay in L1 and
    // the input is read once; tasks are bands of rows. Larger weights: a
    // channel tile at a time over all rows, so that its weights are read
    // from memory once; tasks are (channel tile, band) pairs. So too an
    // input smaller than the weights, which the channel tiles then re-read
    // in place of the pixel tiles re-reading the weights: MobileNet V2's
    // 160 -> 960 convs at 7x7, 0.085 -> 0.061 ms on one thread, and its
    // 96 -> 576 at 14x14, 0.094 -> 0.086 ms (three alternating runs each);
    // its 576 -> 96 at 14x14, whose input is the larger, were 3% slower so.
    const bool rows_outer = f.weight_bytes <= s.cache_bytes && f.input_bytes >= f.weight_bytes;
    Var tile = rows_outer ? co : xo;
    if (rows_outer) {
        const int rows = band_rows(height, 1, s.tasks, f.macs / height);
        f.output.split(f.y, yo, yi, rows).reorder(lane, cbi, xi, co, xo, yi, yo).rename(yo, task);
    } else {
        const int rows = band_rows(height, channel_tiles, s.tasks, f.macs / height / channel_tiles);
        f.output.split(f.y, yo, yi, rows).reorder(lane, cbi, xi, xo, yi, yo, co).fuse(yo, co, task);
    }
    if (block > 1) {
        f.output.vectorize(lane);
    }
    f.output.unroll(cbi).unroll(xi);
    if (s.parallel && f.macs >= 2 * kMinParallelWork) {
        f.output.parallel(task);
    }

    // The accumulators of one tile in registers: lanes, pixels and blocks
    // innermost and unrolled, the input channels, then the taps, outside.
    f.conv.compute_at(f.output, tile);
    f.conv.update().reorder(f.lane, f.cb, f.x, f.r.x, f.r.y, f.r.z);
    if (block > 1) {
        f.conv.vectorize(f.lane, block);
        f.conv.update().vectorize(f.lane, block);
    }
    f.conv.unroll(f.x).unroll(f.cb);
    f.conv.update().unroll(f.x).unroll(f.cb);
    // Weights read from memory (a channel tile's first pass) are fetched
    // ahead: the hardware's prefetch alone leaves the FMAs waiting on them.
    // ResNet-50's layer4 (7x7 maps, 1-9 MB of weights per layer), one
    // thread: 7.8 -> 7.3 ms over three alternating runs each.
    if (!rows_outer && s.prefetch_channels > 0) {
        f.conv.update().prefetch(f.weight, f.r.x, f.r.x, s.prefetch_channels,
                                 Halide::PrefetchBoundStrategy::NonFaulting);
    }
    // And the next channel tile's weights, from the task's first row on,
    // so that they arrive while this tile's later rows run from the cache
    // rather than during the next tile's first row. In the packed layout
    // (lane, ci, kx, ky, cb), input channel ci + tile_blocks * channels *
    // taps is channel ci of the block tile_blocks on: the next tile, or
    // past the weights for the last one (prefetches do not fault).
    // ResNet-50's layer4 512 -> 2048 convs (64 KiB a tile): 0.51 -> 0.47
    // ms on one thread, three alternating runs each; with its 256 KiB and
    // 576 KiB tiles (2048 -> 512, 3x3) the layers were up to 1.25x slower.
    const int64_t tile_weight_bytes = f.weight_bytes / f.blocks * tile_blocks;
    if (!rows_outer && s.prefetch_channels > 0 && tile_weight_bytes <= s.prefetch_tile_bytes) {
        f.conv.update().prefetch(f.weight, f.r.x, f.r.x,
                                 tile_blocks * f.in_channels_per_group * taps_of(f),
                                 Halide::PrefetchBoundStrategy::NonFaulting);
    }

    // The zero border once per band of rows (and channel tile), not tested
    // per tap: the band's rows plus the window's halo, every input channel.
    if (f.padded.defined()) {
        // Shifted inwards, not rounded up: past the channels the border
        // would read outside the input.
        f.padded.compute_at(f.output, task);
        const int vec = fit_vector(s.vector_width, f.in_channels_per_group);
        if (vec > 1) {
            f.padded.vectorize(f.padded.args()[0], vec, TailStrategy::ShiftInwards);
        }
    }
}

// ---------------------------------------------------------------------------
// Winograd convolution.
// ---------------------------------------------------------------------------

namespace {

// How the Winograd schedule runs its stages: per band of `band` tile rows,
// or (banded false) each over the whole map, staging the transformed input
// and products (WinogradSizes::staged_bytes).
struct WinogradPlan {
    bool banded = false;
    int band = 1;
};

// Banded when the weights fit in the cache (L2), or when they fit in
// winograd_banded_bytes (L3) and sweeping them once per band reads less
// than 4 times the bytes that staging would move; the factor fits these
// measurements (one thread, Zen 5, 1 MB of L2): VGG-16's 64 -> 128 and
// 128 -> 128 convs at 112x112 (1.2 and 2.4 MB of weights, 28 bands) ran in
// 2.0 and 4.0-4.5 ms banded in F(4, 3), against 3.6 and 6.9 ms in F(2, 3)
// (their F(4, 3) staging, 22 and 29 MB, is past the limit); ResNet-50's
// 128 -> 128 at 28x28 (7 bands of 2.4 MB) was 10% slower banded than
// staged.
WinogradPlan plan_winograd(const ConvCpuSchedule &s, const WinogradSizes &z) {
    WinogradPlan plan;
    plan.band = band_rows(z.tiles_y, 1, s.tasks, z.macs / z.tiles_y);
    const int64_t sweeps = z.tiles_y / plan.band;
    plan.banded =
        z.weight_bytes <= s.cache_bytes || (z.weight_bytes <= s.winograd_banded_bytes &&
                                            sweeps * z.weight_bytes <= 4 * z.staged_bytes);
    if (!plan.banded) {
        plan.band = z.tiles_y;
    }
    return plan;
}

} // namespace

WinogradSizes winograd_sizes(int m, int in_channels, int out_channels, int block, int width,
                             int height) {
    WinogradSizes z;
    z.tile = m;
    z.positions = (m + 2) * (m + 2);
    z.tiles_x = (width + m - 1) / m;
    z.tiles_y = (height + m - 1) / m;
    z.in_channels = in_channels;
    z.block = block;
    z.blocks = (out_channels + block - 1) / block;
    const int64_t padded_out = int64_t{z.blocks} * block;
    const int64_t tiles = int64_t{z.tiles_x} * z.tiles_y;
    z.macs = tiles * z.positions * in_channels * padded_out;
    z.weight_bytes = int64_t{4} * z.positions * in_channels * padded_out;
    z.staged_bytes = int64_t{4} * (in_channels + padded_out) * tiles * z.positions;
    return z;
}

// Each form's cost is its multiply-accumulates or its memory traffic,
// whichever is more: the weights, read once, and for a Winograd form that
// is not banded its transformed input and products, written and read once
// each. Their buffers are allocated on every run, and past some size
// their fresh pages cost more than the traffic: 64 -> 128 channels at
// 112x112 in F(4, 3), with 22 MB of them, ran in 17.4 ms, and in 6.0 ms
// when malloc was told to keep its memory. The direct form with weights
// past the cache reads each channel tile's from memory during its first
// row and computes the other rows from the cache, so only that row's
// multiplies overlap the traffic. Measured on ResNet-18 (one thread, Zen
// 5), the choices it makes were the fastest of the three forms on each
// layer: F(4, 3) at 56x56 and 28x28, F(2, 3) at 14x14; at 7x7, F(2, 3)
// against direct was 1.01-1.04x there and 1.05-1.08x on ResNet-50's
// layer4 (three alternating runs each).
int choose_winograd_tile(const ConvCpuSchedule &s, int in_channels, int out_channels, int width,
                         int height) {
    if (s.winograd_max_tile < 2 || in_channels < s.winograd_min_channels ||
        out_channels < s.winograd_min_channels) {
        return 0;
    }
    const int64_t padded_out =
        int64_t{(out_channels + s.vector_width - 1) / s.vector_width} * s.vector_width;
    const int64_t price = s.macs_per_memory_byte;
    auto cost = [&](int64_t macs, int64_t bytes) { return std::max(macs, price * bytes); };
    const int64_t direct_weights = int64_t{4} * 9 * in_channels * padded_out;
    const int64_t row_macs = int64_t{9} * width * in_channels * padded_out;
    int64_t best = direct_weights > s.cache_bytes
                       ? cost(row_macs, direct_weights) + row_macs * (height - 1)
                       : cost(row_macs * height, direct_weights);
    int best_tile = 0;
    for (int m : {2, 4}) {
        if (m > s.winograd_max_tile) {
            continue;
        }
        const WinogradSizes z =
            winograd_sizes(m, in_channels, out_channels, s.vector_width, width, height);
        int64_t bytes = z.weight_bytes;
        if (!plan_winograd(s, z).banded) {
            if (z.staged_bytes > s.winograd_staging_bytes) {
                continue;
            }
            bytes += 2 * z.staged_bytes;
        }
        const int64_t c = cost(z.macs, bytes);
        if (c < best) {
            best = c;
            best_tile = m;
        }
    }
    return best_tile;
}

void schedule_winograd_conv_cpu(WinogradConvFuncs f, const ConvCpuSchedule &s) {
    const int channels = f.extents[0], width = f.extents[1], height = f.extents[2];
    const WinogradSizes &z = f.sizes;
    const int m = z.tile;
    const bool parallel = s.parallel && z.macs >= 2 * kMinParallelWork;

    // Banded (plan_winograd): the three stages per band of tile rows, each
    // band a task that reads the weights from the cache and keeps its
    // transformed input and products there. Otherwise each stage runs over
    // the whole map, the products one position per task, so that each
    // position's weights are read from memory once.
    const WinogradPlan plan = plan_winograd(s, z);
    const bool banded = plan.banded;
    int band = plan.band;
    auto tail = [](int extent, int factor) {
        return extent % factor == 0 ? TailStrategy::Auto : TailStrategy::GuardWithIf;
    };
    // When a band's buffers and the weights would not fit in the cache
    // together: bands of one tile row, cut into chunks of tiles that fit
    // beside the weights, a whole number of chunks per row (so that every
    // chunk is whole) of at least one register tile each. VGG-16's 64 -> 64
    // at 224x224 in F(4, 3): 6.1 -> 5.2 ms on one thread.
    const int64_t tile_bytes = int64_t{4} * (z.in_channels + z.blocks * z.block) * z.positions;
    int chunk = z.tiles_x;
    if (banded && z.weight_bytes < s.cache_bytes &&
        tile_bytes * z.tiles_x * band > s.cache_bytes - z.weight_bytes) {
        const int fit = static_cast<int>((s.cache_bytes - z.weight_bytes) / tile_bytes);
        const int divisor = divisor_at_most(z.tiles_x, fit);
        if (divisor >= s.tile_x) {
            band = 1;
            chunk = divisor;
        }
    }

    // The output transform per m x m tile and block of channels, unrolled
    // so that x % m and y % m are constants.
    Var co("co"), lane("lo"), xb("xb"), xr("xr"), xo("xo"), xi("xi"), yb("yb"), yr("yr"), yo("yo"),
        yi("yi");
    f.output.split(f.c, co, lane, z.block, tail(channels, z.block))
        .split(f.x, xb, xr, m * chunk, tail(width, m * chunk))
        .split(xr, xo, xi, m)
        .split(f.y, yb, yr, m * band, tail(height, m * band))
        .split(yr, yo, yi, m)
        .reorder(lane, xi, yi, co, xo, yo, xb, yb)
        .unroll(xi)
        .unroll(yi);
    const Var &stage = chunk < z.tiles_x ? xb : yb;
    if (z.block > 1) {
        f.output.vectorize(lane);
    }
    if (parallel && (!banded || band < z.tiles_y)) {
        f.output.parallel(banded ? yb : yo);
    }

    // The input transform a vector of input channels at a time, every
    // position of the tile unrolled so that they share their loads. Stored
    // (ci, t, e), so that the products read the channels of a register
    // tile's tiles, for one position, from one dense stretch.
    const Var ci = f.transformed.args()[0];
    Var cio("cio"), cii("cii");
    const int vec = fit_vector(s.vector_width, z.in_channels);
    if (banded) {
        f.transformed.compute_at(f.output, stage);
    } else {
        f.transformed.compute_root();
    }
    f.transformed.split(ci, cio, cii, vec, TailStrategy::ShiftInwards)
        .reorder(cii, f.e, cio, f.t)
        .unroll(f.e);
    if (vec > 1) {
        f.transformed.vectorize(cii);
    }
    if (parallel && !banded) {
        Var to("to"), ti("ti");
        f.transformed.split(f.t, to, ti, z.tiles_x, TailStrategy::ShiftInwards).parallel(to);
    }

    // The products, one position at a time, in register tiles of
    // tile_blocks blocks by tile_x tiles (which may span rows). When the
    // transformed input of one position fits in half the cache, each
    // channel tile sweeps all tiles (its weights in L1); otherwise each
    // pixel tile sweeps all channel tiles (its inputs in L1).
    const int tile_blocks = divisor_at_most(z.blocks, s.tile_blocks);
    const int tile_count = chunk * band;
    const int txt = row_tile(tile_count, s.tile_x);
    const int64_t position_bytes = int64_t{4} * z.in_channels * tile_count;
    const bool channel_tiles_outer = 2 * position_bytes <= s.cache_bytes;
    Var cbo("cbo"), cbi("cbi"), txo("txo"), txi("txi");
    if (banded) {
        f.products.compute_at(f.output, stage);
    } else {
        f.products.compute_root();
    }
    // Stored (lane, e, t, cb): the output transform reads all positions of
    // a tile as one dense run.
    f.products.reorder_storage(f.lane, f.e, f.t, f.cb)
        .split(f.cb, cbo, cbi, tile_blocks)
        .split(f.t, txo, txi, txt, TailStrategy::ShiftInwards);
    if (channel_tiles_outer) {
        f.products.reorder(f.lane, cbi, txi, txo, cbo, f.e);
    } else {
        f.products.reorder(f.lane, cbi, txi, cbo, txo, f.e);
    }
    f.products.unroll(cbi).unroll(txi);
    if (z.block > 1) {
        f.products.vectorize(f.lane);
    }
    if (parallel && !banded) {
        f.products.parallel(f.e);
    }
    f.product.compute_at(f.products, channel_tiles_outer ? txo : cbo);
    f.product.update().reorder(f.lane, f.cb, f.t, f.r);
    if (z.block > 1) {
        f.product.vectorize(f.lane, z.block);
        f.product.update().vectorize(f.lane, z.block);
    }
    f.product.unroll(f.t).unroll(f.cb);
    f.product.update().unroll(f.t).unroll(f.cb);
    // Staged, each position's weights stream from memory once, fetched
    // ahead as in the direct conv: ResNet-50's five F(2, 3) layers at 14x14,
    // 2.9 -> 2.5 ms on one thread over three alternating runs each.
    if (!banded && s.prefetch_channels > 0) {
        f.product.update().prefetch(f.weight, f.r, f.r, s.prefetch_channels,
                                    Halide::PrefetchBoundStrategy::NonFaulting);
    }
}

// ---------------------------------------------------------------------------
// Depthwise convolution.
// ---------------------------------------------------------------------------

DepthwiseConvCpuSchedule default_depthwise_conv_cpu_schedule(const Halide::Target &target) {
    DepthwiseConvCpuSchedule schedule;
    schedule.vector_width = default_cpu_vector_width(target);
    schedule.tile_x = 4;
    // Rows of 7 and 14 (the last stages of most networks) in tiles of 7
    // rather than overlapping tiles of 4: 7 accumulators, 9 weights and the
    // row's inputs fit AVX-512's 32 registers, not the 16 of AVX2 or
    // SSE4.1. Measured on MobileNet V2 (Zen 4): 2x on the stride-2 7x7
    // layer, 1.2x on the stride-1 ones. On Zen 5, one thread, 576 channels
    // at 14x14: 0.029 -> 0.020-0.023 ms; tiles of 8 were 10% slower than 4
    // on 56x56 and 112x112 maps.
    schedule.narrow_row_x = schedule.vector_width == 16 ? 14 : schedule.tile_x;
    schedule.narrow_tile_x = schedule.vector_width == 16 ? 7 : schedule.tile_x;
    // Two rows per tile where the registers allow (AVX-512's 32, AVX2's
    // 16): a tile's accumulators are the independent chains of FMAs, and
    // with one row of 4 they are too few to hide the FMA's latency (the
    // depthwise layers ran at 40-50% of peak, with their data in L2 or
    // L3 alike). MobileNet V2, one thread, Zen 5: its depthwise layers
    // 1.14-1.36x faster on AVX-512 (0.40 -> 0.32 ms), 1.03-1.33x on AVX2;
    // on SSE4.1 the same to 0.8x, and 4 rows were slower than 2 on AVX-512.
    schedule.tile_y = target.arch == Halide::Target::X86 && schedule.vector_width >= 8 ? 2 : 1;
    schedule.tasks = 16;
    schedule.parallel = true;
    return schedule;
}

std::string describe(const DepthwiseConvCpuSchedule &s) {
    return "depthwise-conv-cpu vector=" + std::to_string(s.vector_width) +
           " tile_x=" + std::to_string(s.tile_x) +
           " narrow_row_x=" + std::to_string(s.narrow_row_x) +
           " narrow_tile_x=" + std::to_string(s.narrow_tile_x) +
           " tile_y=" + std::to_string(s.tile_y) + " tasks=" + std::to_string(s.tasks) +
           " parallel=" + flag(s.parallel);
}

void schedule_depthwise_conv_cpu(DepthwiseConvFuncs f, const DepthwiseConvCpuSchedule &s) {
    const int vec = fit_vector(s.vector_width, f.extents[0]);
    const int tile_x = f.extents[1] <= s.narrow_row_x ? s.narrow_tile_x : s.tile_x;
    ChannelTiles tiles = tile_channels_by_pixels(f.output, f.c, f.x, f.y, f.extents, s.vector_width,
                                                 tile_x, s.tasks, s.parallel, f.macs, s.tile_y);

    // Accumulators of one tile in registers; the taps unrolled, both ways,
    // when the window is small enough for the code to stay compact. On
    // MobileNet V2 (one thread, Zen 5), unrolling the rows of the window as
    // well as its columns made the depthwise layers 2-11% faster (two
    // alternating runs each).
    f.conv.compute_at(f.output, tiles.tile);
    f.conv.update().reorder(f.c, f.x, f.y, f.r.x, f.r.y);
    if (vec > 1) {
        f.conv.vectorize(f.c, vec);
        f.conv.update().vectorize(f.c, vec);
    }
    f.conv.unroll(f.x).unroll(f.y);
    f.conv.update().unroll(f.x).unroll(f.y);
    if (f.kernel_w <= 7) {
        f.conv.update().unroll(f.r.x).unroll(f.r.y);
    }
}

// ---------------------------------------------------------------------------
// Pooling.
// ---------------------------------------------------------------------------

PoolCpuSchedule default_pool_cpu_schedule(const Halide::Target &target) {
    PoolCpuSchedule schedule;
    schedule.vector_width = default_cpu_vector_width(target);
    schedule.tile_x = 4;
    schedule.tasks = 16;
    schedule.parallel = true;
    return schedule;
}

std::string describe(const PoolCpuSchedule &s) {
    return "pool-cpu vector=" + std::to_string(s.vector_width) +
           " tile_x=" + std::to_string(s.tile_x) + " tasks=" + std::to_string(s.tasks) +
           " parallel=" + flag(s.parallel);
}

void schedule_pool_cpu(PoolFuncs f, const PoolCpuSchedule &s) {
    const int vec = fit_vector(s.vector_width, f.extents[0]);
    const int64_t work = elements_of(f.extents) * f.kernel_w * f.kernel_w;
    ChannelTiles tiles = tile_channels_by_pixels(f.output, f.c, f.x, f.y, f.extents, s.vector_width,
                                                 s.tile_x, s.tasks, s.parallel, work);
    f.pool.compute_at(f.output, tiles.tile);
    f.pool.update().reorder(f.c, f.x, f.r.x, f.r.y);
    if (vec > 1) {
        f.pool.vectorize(f.c, vec);
        f.pool.update().vectorize(f.c, vec);
    }
    f.pool.unroll(f.x);
    f.pool.update().unroll(f.x);
    if (f.kernel_w <= 7) {
        f.pool.update().unroll(f.r.x);
    }
}

void schedule_global_pool_cpu(GlobalPoolFuncs f, const PoolCpuSchedule &s) {
    const int channels = f.extents[0];
    const int vec = fit_vector(s.vector_width, channels);
    // Up to four vectors per block, a whole number of them, so that the
    // reduction's vectors fit the block exactly; each reads dense vectors.
    const int block = vec * clamp_tile(4, channels / vec);
    Var co("co"), ci("ci");
    f.output.split(f.c, co, ci, block, TailStrategy::ShiftInwards);
    if (vec > 1) {
        f.output.vectorize(ci, vec);
    }
    f.pool.compute_at(f.output, co);
    f.pool.update().reorder(f.c, f.r.x, f.r.y);
    if (vec > 1) {
        f.pool.vectorize(f.c, vec);
        f.pool.update().vectorize(f.c, vec);
    }
    f.pool.unroll(f.c);
    f.pool.update().unroll(f.c);
    (void)s.parallel; // a global pool reads its input once: never worth a thread wake-up
}

// ---------------------------------------------------------------------------
// Linear.
// ---------------------------------------------------------------------------

LinearCpuSchedule default_linear_cpu_schedule(const Halide::Target &target) {
    LinearCpuSchedule schedule;
    schedule.vector_width = default_cpu_vector_width(target);
    // Eight weight rows streamed side by side. Measured on the development
    // machine (one thread, AVX-512): AlexNet's fc6 (9216 -> 4096, 151 MB)
    // 10.0 ms with four rows, 6.5 ms with eight (23 GB/s, near the measured
    // read bandwidth); MobileNet's 1280 -> 1000 from cache 0.24 -> 0.06 ms;
    // six and ten about the same as eight, twelve ten times slower than
    // four. AVX2 likewise: fc6 12.5 -> 7.2 ms.
    schedule.tile_outputs = 8;
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
    const int64_t macs = int64_t(f.in_features) * f.out_features;
    Var co("co"), ci("ci"), lane("lane");
    RVar ro("ro"), ri("ri");

    // Tiles of output features, in parallel when the layer is big enough.
    f.output.split(f.c, co, ci, tile, TailStrategy::ShiftInwards);
    if (s.parallel && f.out_features >= 4 * tile && macs >= 2 * kMinParallelWork) {
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
// Element-wise layers, layout conversions and the channel-wise
// normalisations.
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
    const int channels = f.extents[0];
    for (const Func &table : f.per_channel) {
        // ShiftInwards: the tables read weights, which must not be read past
        // their end.
        Func(table).compute_root();
        vectorize_channels(table, f.c, channels, s.vector_width);
    }

    if (!is_spatial(f.extents)) {
        schedule_channels(f.output, f.c, channels, s.vector_width, s.parallel);
        return;
    }
    // Vectors along the dense channels; rows in parallel only for big
    // layers (an element costs a few cycles, a thread wake-up 0.3 ms).
    vectorize_channels(f.output, f.c, channels, s.vector_width);
    const int64_t elements = elements_of(f.extents);
    if (s.parallel && elements >= 4 * kMinParallelWork && f.extents[2] > 1) {
        f.output.parallel(f.y);
    }
}

void schedule_concat_cpu(ConcatFuncs f, const ElementwiseCpuSchedule &s) {
    // Each input's copy: its channels in vectors, the last one guarded
    // (an update cannot shift a vector inwards), over rows in parallel only
    // when the whole layer is big enough.
    const bool parallel =
        s.parallel && is_spatial(f.extents) && elements_of(f.extents) >= 4 * kMinParallelWork;
    for (size_t i = 0; i < f.rs.size(); ++i) {
        Halide::Stage copy = f.output.update(static_cast<int>(i));
        const int vec = fit_vector(s.vector_width, f.channels[i]);
        if (vec > 1) {
            copy.vectorize(f.rs[i].x, vec, TailStrategy::GuardWithIf);
        }
        if (parallel) {
            copy.parallel(f.y);
        }
    }
}

void schedule_softmax_cpu(SoftmaxFuncs f, const ElementwiseCpuSchedule &s) {
    const int channels = f.extents[0];
    if (!is_spatial(f.extents)) {
        // A single column of channels (the classifier's output): the two
        // reductions are serial, the exponentials and the output vectorised.
        f.maximum.compute_root();
        f.sum.compute_root();
        f.exp.compute_root();
        vectorize_channels(f.exp, f.c, channels, s.vector_width);
        schedule_channels(f.output, f.c, channels, s.vector_width, false);
        return;
    }

    // Per pixel: its maximum and sum over the channels, its exponentials,
    // then the output, each across the dense channels.
    f.maximum.compute_at(f.output, f.x);
    f.sum.compute_at(f.output, f.x);
    f.exp.compute_at(f.output, f.x);
    vectorize_channels(f.exp, f.c, channels, s.vector_width);
    vectorize_channels(f.output, f.c, channels, s.vector_width);
    if (s.parallel && elements_of(f.extents) >= 4 * kMinParallelWork) {
        f.output.parallel(f.y);
    }
}

void schedule_lrn_cpu(LrnFuncs f, const ElementwiseCpuSchedule &s) {
    const int channels = f.extents[0];
    const int vec = fit_vector(s.vector_width, channels);
    if (!is_spatial(f.extents)) {
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

    // A pixel at a time: the squares of its channels (with the zero border),
    // then per output vector the sum over the window of channels.
    f.square.compute_at(f.output, f.x);
    f.window_sum.compute_at(f.output, f.x);
    f.window_sum.update().reorder(f.c, f.r.x);
    if (f.size <= 16) {
        f.window_sum.update().unroll(f.r.x);
    }
    if (vec > 1) {
        vectorize_channels(f.output, f.c, channels, s.vector_width);
        f.square.vectorize(f.c, vec, TailStrategy::RoundUp);
        f.window_sum.vectorize(f.c, vec, TailStrategy::RoundUp);
        f.window_sum.update().vectorize(f.c, vec, TailStrategy::RoundUp);
    }
    if (s.parallel && elements_of(f.extents) * f.size >= 4 * kMinParallelWork) {
        f.output.parallel(f.y);
    }
}

void schedule_layout_cpu(LayoutFuncs f, const ElementwiseCpuSchedule &s) {
    // A transpose per pixel row: vectors along the output's dense dimension,
    // whose loads stride across the source.
    const int inner = f.extents[0];
    if (f.to_internal) {
        vectorize_channels(f.output, f.c, inner, s.vector_width);
    } else {
        vectorize_channels(f.output, f.x, inner, s.vector_width);
    }
    const Var &outer = f.to_internal ? f.y : f.c;
    if (s.parallel && elements_of(f.extents) >= 4 * kMinParallelWork) {
        f.output.parallel(outer);
    }
}

} // namespace strata
