// The machine's measured limits: float32 FMA throughput from a register-only
// microbenchmark, the figure every "% of peak" in Strata's reports divides by;
// the throughput of the conv schedule's register tile with its data in L1,
// the most a conv layer can reach with that tile; and memory read bandwidth,
// which bounds layers that stream their weights.
#pragma once

#include <cstdint>

namespace strata {

struct PeakFlops {
    double gflops = 0;     // counting one FMA as 2 flops
    int vector_floats = 0; // 16 with AVX-512, 8 with AVX2+FMA
    int threads = 0;
    double tile_gflops = 0; // the conv register tile, data in L1 (measure_peak_flops)
    double read_gbps = 0;   // filled by measure_read_bandwidth's callers
};

/// Read bandwidth from memory: `threads` threads each summing its own part
/// of a buffer far larger than the caches, best of three rounds, in GB/s.
double measure_read_bandwidth(int threads, int64_t bytes = int64_t{512} << 20);

/// Runs `threads` threads of independent FMA chains for about `seconds`
/// and returns the best of three rounds; then, the same way, the inner loop
/// of the conv schedule's default register tile (2 vectors of output
/// channels by 7 pixels on AVX-512, 2 by 6 on AVX2: per input channel two
/// weight loads, a broadcast per pixel and an FMA per pair) over 256 input
/// channels whose weights and inputs stay in L1. On a CPU without AVX2+FMA
/// (or not x86-64) it returns gflops = tile_gflops = 0.
PeakFlops measure_peak_flops(int threads, double seconds = 0.3);

} // namespace strata
