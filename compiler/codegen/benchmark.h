// `strata bench`: runs a compiled network in this process, through LLVM's
// JIT, on the machine that will run it, and reports the median latency.
#pragma once

#include "codegen/compile_network.h"
#include "peak_flops.h"

#include <string>
#include <vector>

namespace strata {

struct BenchOptions {
    CompileOptions compile;
    int runs = 20;   // timed runs, after one warm-up run
    int threads = 0; // 0: one per core
    bool per_layer = false;
};

struct LayerTime {
    std::string layer;
    std::string kernel;
    std::string algorithm; // LoweredKernel::algorithm
    double median_ms = 0;
    int64_t macs = 0;
};

struct BenchResult {
    std::string network;
    std::string target;
    int threads = 0;
    int runs = 0;
    double median_ms = 0;
    double min_ms = 0;
    double max_ms = 0;
    int64_t macs = 0;
    int64_t weight_bytes = 0;
    std::vector<LayerTime> layers; // with per_layer
    PeakFlops peak;                // measured by the caller when asked
};

/// Compiles for `options.compile.target`, which must be this machine (host,
/// or a CPU target it can run), and times it. Throws UserError otherwise.
BenchResult benchmark_network(const BenchOptions &options);

} // namespace strata
