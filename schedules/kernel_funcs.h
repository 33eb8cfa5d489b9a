// The handles a schedule template needs into the algorithm of one kernel.
//
// The lowering (compiler/lower/) defines the algorithm of each kind of layer
// and fills one of these structs; a schedule (cpu_schedules.h,
// gpu_schedules.h) reads it and decides loops, vectors, threads and where
// each intermediate Func is computed. Nothing here computes anything.
//
// Coordinates: a feature map is a 3-D Func over (c = C, x = W, y = H), c
// innermost and dense in memory (NHWC), so every layer vectorises across
// channels. A kernel whose output is a vector (NF) has a 1-D output Func over
// (c) alone; `extents` then has one entry. All extents are known at compile
// time, so schedules choose vector widths and tails that fit them exactly.
#pragma once

#include <Halide.h>
#include <cstdint>
#include <vector>

namespace strata {

/// Direct and grouped convolution, over output channels in blocks of
/// `block` (one vector): the weight is packed so that the `block` weights of
/// one tap and input channel are one dense vector.
struct ConvFuncs {
    Halide::Func output;       // (c, x, y): conv plus bias plus the node's epilogue
    Halide::Func conv;         // (lane, x, y, cb): channel cb * block + lane (within
                               // its group); zero, then update 0 sums over `r`
    Halide::Func padded;       // (c, x, y): the input with a zero border; undefined
                               // when every window stays inside the input or
                               // the input is stored with the border
    Halide::RDom r;            // (ci, kx, ky), input channels innermost
    Halide::ImageParam weight; // the packed weight
    Halide::Var c, x, y, lane, cb;
    std::vector<int> extents; // the output's (C, W, H)
    int block = 1;            // output channels per block (lanes of `conv`)
    int blocks = 1;           // blocks in all groups: the extent of cb
    int blocks_per_group = 1;
    int in_channels_per_group = 1;
    int64_t macs = 0;         // multiply-accumulates of the whole layer
    int64_t weight_bytes = 0; // of the packed weight
    int64_t input_bytes = 0;  // of the input map
};

/// The sizes of one Winograd form of a conv, which its cost (the
/// schedule's choose_winograd_tile) and its schedule both read; given by
/// winograd_sizes (cpu_schedules.h).
struct WinogradSizes {
    int tile = 2;       // m: outputs per tile along x and y
    int positions = 16; // (m + 2)^2, the extent of e
    int tiles_x = 1, tiles_y = 1;
    int in_channels = 1;
    int block = 1;            // output channels per block (lanes of `product`)
    int blocks = 1;           // the extent of cb
    int64_t macs = 0;         // multiply-accumulates of the products
    int64_t weight_bytes = 0; // of the transformed weight
    int64_t staged_bytes = 0; // transformed input and products of the whole map
};

/// A 3x3, stride-1 convolution by Winograd's minimal filtering F(m x m,
/// 3 x 3): each m x m tile of outputs is A^T [U . V] A, where V = B^T d B
/// transforms the tile's (m + 2) x (m + 2) input window d and U = G g G^T
/// the 3x3 filter g (at compile time). The sum over input channels then
/// costs (m + 2)^2 multiplies per tile and channel pair instead of 9 m^2:
/// one batched matrix product per position e of the transformed tile.
struct WinogradConvFuncs {
    Halide::Func output;       // (c, x, y): A^T M A plus bias plus the epilogue
    Halide::Func transformed;  // (ci, t, e): V of input tile t = tx + tiles_x * ty
    Halide::Func product;      // (lane, t, e, cb): zero, then update 0 sums
                               // U * V over `r`, output channel cb * block + lane
    Halide::Func products;     // the same values, the buffer `output` reads
    Halide::Func padded;       // (c, x, y): the input with its zero border, stored
                               // or a select on each load
    Halide::RDom r;            // (ci)
    Halide::ImageParam weight; // U, packed
    Halide::Var c, x, y, lane, t, e, cb;
    std::vector<int> extents; // the output's (C, W, H)
    WinogradSizes sizes;
};

/// Depthwise convolution (one input channel per output channel): every
/// output channel reads its own channel, so channels are the vector lanes.
struct DepthwiseConvFuncs {
    Halide::Func output; // (c, x, y)
    Halide::Func conv;   // (c, x, y): zero, then update 0 sums over `r`; the
                         // border, if any, is a select inlined in its loads
    Halide::RDom r;      // (kx, ky)
    Halide::Var c, x, y;
    std::vector<int> extents; // the output's (C, W, H)
    int kernel_w = 1;
    int64_t macs = 0;
};

/// Max and average pooling over a window.
struct PoolFuncs {
    Halide::Func output; // (c, x, y)
    Halide::Func pool;   // (c, x, y): an initial value, then update 0 over `r`;
                         // the border (-inf or 0), if any, a select in its loads
    Halide::RDom r;      // (kx, ky)
    Halide::Var x, y, c;
    std::vector<int> extents;
    int kernel_w = 1;
};

/// Global average and max pooling: one value per channel.
struct GlobalPoolFuncs {
    Halide::Func output; // (c, x, y) with x and y of extent 1
    Halide::Func pool;   // (c): an initial value, then update 0 over `r`
    Halide::RDom r;      // (x, y) of the input
    Halide::Var x, y, c;
    std::vector<int> extents;
};

/// Fully connected: output(c) = bias(c) + sum_r weight(r, c) * src(r).
struct LinearFuncs {
    Halide::Func output; // (c)
    Halide::Func linear; // (c): the bias, then update 0 sums over `r`
    Halide::RDom r;      // (in_features)
    Halide::Var c;
    int out_features = 1;
    int in_features = 1;
};

/// Layers that compute each output element from a few loads: activations,
/// batch norm, add, slice, shuffle, flatten, copies.
struct ElementwiseFuncs {
    Halide::Func output;                   // (c, x, y) or (c)
    std::vector<Halide::Func> per_channel; // small (c) tables worth computing once
    Halide::Var x, y, c;
    std::vector<int> extents;
};

/// Concatenation along channels: the output has no pure value (undef) and
/// each update copies one input's channels into place, so that every load
/// and store is a dense vector within one input (a select between inputs
/// would turn the loads of a vector that straddles two of them into
/// gathers). Inputs written in place by their producers get no update.
struct ConcatFuncs {
    Halide::Func output;          // (c, x, y) or (c); update i is copy i
    std::vector<Halide::RDom> rs; // rs[i]: (channels[i])
    std::vector<int> channels;    // of the input copy i reads
    Halide::Var x, y;
    std::vector<int> extents; // the output's
};

/// Softmax over channels: output = exp(src - max) / sum.
struct SoftmaxFuncs {
    Halide::Func output;  // (c, x, y) or (c)
    Halide::Func maximum; // (x, y): update 0 over `r`
    Halide::Func exp;     // (c, x, y)
    Halide::Func sum;     // (x, y): update 0 over `r`
    Halide::RDom r;       // (channels)
    Halide::Var x, y, c;
    std::vector<int> extents;
};

/// Local response normalisation across channels.
struct LrnFuncs {
    Halide::Func output;     // (c, x, y) or (c)
    Halide::Func square;     // (c, x, y): src squared, zero outside the channels
    Halide::Func window_sum; // (c, x, y): update 0 sums `square` over `r`
    Halide::RDom r;          // (size)
    Halide::Var x, y, c;
    std::vector<int> extents;
    int size = 1; // channels in the window
};

/// A feature map converted between PyTorch's layout (x, y, c) and the
/// internal one (c, x, y).
struct LayoutFuncs {
    Halide::Func output; // (c, x, y) when `to_internal`, (x, y, c) otherwise
    Halide::Var c, x, y;
    bool to_internal = true;
    std::vector<int> extents; // the output's, innermost first
};

} // namespace strata
