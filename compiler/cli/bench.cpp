#include "codegen/benchmark.h"
#include "command.h"
#include "options.h"
#include "peak_flops.h"

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

namespace strata::cli {

namespace {

std::string format(const char *pattern, double value) {
    char text[64];
    std::snprintf(text, sizeof text, pattern, value);
    return text;
}

// Multiply-accumulates per millisecond as GFLOP/s, counting a MAC as 2 flops.
double gflops(int64_t macs, double ms) {
    return ms > 0 ? 2.0 * static_cast<double>(macs) / (ms * 1e6) : 0;
}

void print_table(const BenchResult &r) {
    std::cout << r.network << " on " << r.target << ", "
              << (r.threads > 0 ? std::to_string(r.threads) : std::string("all"))
              << " threads: " << format("median %.3f ms", r.median_ms) << " over " << r.runs
              << " runs" << format(" (min %.3f", r.min_ms) << format(", max %.3f)", r.max_ms)
              << format(", %.1f GFLOP/s", gflops(r.macs, r.median_ms));
    if (r.peak.gflops > 0) {
        std::cout << format(", %.1f%% of", 100 * gflops(r.macs, r.median_ms) / r.peak.gflops)
                  << format(" the measured FMA peak of %.1f GFLOP/s", r.peak.gflops)
                  << format(" (the conv register tile with its data in L1: %.1f GFLOP/s,",
                            r.peak.tile_gflops)
                  << format(" %.1f%% of it;", 100 * r.peak.tile_gflops / r.peak.gflops)
                  << format(" memory reads: %.1f GB/s)", r.peak.read_gbps);
    }
    std::cout << "\n";
    if (r.layers.empty()) {
        return;
    }
    std::printf("\n%-28s %-16s %10s %8s %10s  %s\n", "layer", "kernel", "ms", "share", "GFLOP/s",
                "algorithm");
    double sum = 0;
    for (const LayerTime &l : r.layers) {
        sum += l.median_ms;
    }
    for (const LayerTime &l : r.layers) {
        std::printf("%-28s %-16s %10.3f %7.1f%% %10.1f  %s\n", l.layer.c_str(), l.kernel.c_str(),
                    l.median_ms, sum > 0 ? 100 * l.median_ms / sum : 0, gflops(l.macs, l.median_ms),
                    l.algorithm.c_str());
    }
}

nlohmann::json to_json(const BenchResult &r) {
    nlohmann::json layers = nlohmann::json::array();
    for (const LayerTime &l : r.layers) {
        layers.push_back({{"layer", l.layer},
                          {"kernel", l.kernel},
                          {"algorithm", l.algorithm},
                          {"median_ms", l.median_ms},
                          {"macs", l.macs}});
    }
    return {{"network", r.network},
            {"target", r.target},
            {"threads", r.threads},
            {"runs", r.runs},
            {"median_ms", r.median_ms},
            {"min_ms", r.min_ms},
            {"max_ms", r.max_ms},
            {"macs", r.macs},
            {"layers", layers},
            {"peak_gflops", r.peak.gflops},
            {"tile_gflops", r.peak.tile_gflops},
            {"read_gbps", r.peak.read_gbps},
            {"weight_bytes", r.weight_bytes}};
}

} // namespace

int run_bench(const std::vector<std::string> &args) {
    po::options_description options("options");
    options.add_options()("target", po::value<std::string>()->default_value("host"),
                          "a CPU target this machine runs (host, x86-64-linux-avx2-fma, ...)")(
        "weights", po::value<std::string>(), "a .safetensors file; default: He initialisation")(
        "threads", po::value<int>()->default_value(0), "threads to run on; 0: one per core")(
        "runs", po::value<int>()->default_value(20), "timed runs after one warm-up run")(
        "per-layer", po::bool_switch(), "also time every layer (median over the runs)")(
        "peak", po::bool_switch(),
        "also measure this machine's FMA peak on the same threads, and give % of peak")(
        "format", po::value<std::string>()->default_value("table"), "table or json");
    po::variables_map values;
    if (!parse_command("bench",
                       "Compiles the network for this machine, runs it in-process (JIT) and "
                       "prints the median latency.",
                       args, options, values)) {
        return kOk;
    }
    BenchOptions bench;
    bench.compile.source = values["file"].as<std::string>();
    bench.compile.target = values["target"].as<std::string>();
    if (values.count("weights")) {
        bench.compile.weights = values["weights"].as<std::string>();
    }
    bench.threads = values["threads"].as<int>();
    bench.runs = values["runs"].as<int>();
    bench.per_layer = values["per-layer"].as<bool>();
    std::string format = values["format"].as<std::string>();
    if (bench.runs < 1 || bench.threads < 0) {
        throw UsageError{"--runs must be at least 1 and --threads at least 0"};
    }
    if (format != "table" && format != "json") {
        throw UsageError{"--format must be 'table' or 'json', got '" + format + "'"};
    }
    BenchResult result = benchmark_network(bench);
    if (values["peak"].as<bool>()) {
        int threads = bench.threads > 0 ? bench.threads
                                        : static_cast<int>(std::thread::hardware_concurrency());
        result.peak = measure_peak_flops(threads);
        result.peak.read_gbps = measure_read_bandwidth(threads);
    }
    if (format == "json") {
        std::cout << to_json(result).dump(2) << "\n";
    } else {
        print_table(result);
    }
    return kOk;
}

} // namespace strata::cli
