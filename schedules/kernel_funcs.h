// The handles a schedule template needs into the algorithm of one kernel.
//
// The lowering (compiler/lower/) defines the algorithm of each kind of layer
// and fills one of these structs; a schedule (cpu_schedules.h,
// gpu_schedules.h) reads it and decides loops, vectors, threads and where
// each intermediate Func is computed. Nothing here computes anything.
//
// Coordinates: a feature map is a 3-D Func over (x = W, y = H, c = C), x
// innermost. A kernel whose output is a vector (NF) has a 1-D output Func over
// (c) alone; `extents` then has one entry. All extents are known at compile
// time, so schedules choose vector widths and tails that fit them exactly.
#pragma once

#include <Halide.h>
#include <vector>

namespace strata {

/// Direct, grouped and depthwise convolution.
struct ConvFuncs {
    Halide::Func output; // (x, y, c): conv plus the node's epilogue
    Halide::Func conv;   // (x, y, c): the bias, then update 0 sums over `r`
    Halide::Func padded; // (x, y, c): the input with a zero border; undefined
                         // when every window stays inside the input
    Halide::RDom r;      // (kx, ky, ci), or (kx, ky) for a depthwise conv
    Halide::Var x, y, c;
    std::vector<int> extents; // the output's (W, H, C)
    int kernel_w = 1;
    int stride_w = 1;
    int dilation_w = 1;
};

/// Max and average pooling over a window.
struct PoolFuncs {
    Halide::Func output; // (x, y, c)
    Halide::Func pool;   // (x, y, c): an initial value, then update 0 over `r`
    Halide::Func padded; // the input with its border (-inf or 0); undefined
                         // when every window stays inside the input
    Halide::RDom r;      // (kx, ky)
    Halide::Var x, y, c;
    std::vector<int> extents;
    int kernel_w = 1;
};

/// Global average and max pooling: one value per channel.
struct GlobalPoolFuncs {
    Halide::Func output; // (x, y, c) with x and y of extent 1
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
/// batch norm, add, concat, slice, shuffle, flatten, copies.
struct ElementwiseFuncs {
    Halide::Func output;                   // (x, y, c) or (c)
    std::vector<Halide::Func> per_channel; // small (c) tables worth computing once
    Halide::Var x, y, c;
    std::vector<int> extents;
};

/// Softmax over channels: output = exp(src - max) / sum.
struct SoftmaxFuncs {
    Halide::Func output;  // (x, y, c) or (c)
    Halide::Func maximum; // (x, y): update 0 over `r`
    Halide::Func exp;     // (x, y, c)
    Halide::Func sum;     // (x, y): update 0 over `r`
    Halide::RDom r;       // (channels)
    Halide::Var x, y, c;
    std::vector<int> extents;
};

/// Local response normalisation across channels.
struct LrnFuncs {
    Halide::Func output;     // (x, y, c) or (c)
    Halide::Func square;     // (x, y, c): src squared, zero outside the channels
    Halide::Func window_sum; // (x, y, c): update 0 sums `square` over `r`
    Halide::RDom r;          // (size)
    Halide::Var x, y, c;
    std::vector<int> extents;
    int size = 1; // channels in the window
};

} // namespace strata
