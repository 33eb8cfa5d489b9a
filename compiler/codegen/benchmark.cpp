#include "codegen/benchmark.h"

#include <Halide.h>
#include <algorithm>
#include <chrono>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/TargetSelect.h>

namespace strata {

namespace {

using Clock = std::chrono::steady_clock;

// The layer hook's clock: the JIT-compiled driver calls strata_layer_done(i)
// after call i, and the gap since the previous mark is call i's time.
struct LayerClock {
    Clock::time_point last;
    std::vector<std::vector<double>> samples; // per call, one per run
};
LayerClock *active_clock = nullptr;

extern "C" void layer_done(int call) {
    Clock::time_point now = Clock::now();
    auto &samples = active_clock->samples[static_cast<size_t>(call)];
    samples.push_back(std::chrono::duration<double, std::milli>(now - active_clock->last).count());
    active_clock->last = now;
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values.empty() ? 0 : values[values.size() / 2];
}

template <typename T> T take(llvm::Expected<T> value, const std::string &what) {
    if (!value) {
        throw InternalError(what + ": " + llvm::toString(value.takeError()));
    }
    return std::move(*value);
}

// Whether this machine's CPU can run code for `target`: same architecture
// and OS, no GPU, and every instruction set extension it uses.
bool runs_here(const Halide::Target &target) {
    Halide::Target host = Halide::get_host_target();
    if (target.os != host.os || target.arch != host.arch || target.bits != host.bits ||
        target.has_gpu_feature()) {
        return false;
    }
    using F = Halide::Target::Feature;
    for (F isa : {F::SSE41, F::AVX, F::AVX2, F::FMA, F::FMA4, F::F16C, F::AVX512, F::AVX512_KNL,
                  F::AVX512_Skylake, F::AVX512_Cannonlake, F::AVX512_SapphireRapids, F::ARMv81a,
                  F::ARMDotProd, F::ARMFp16}) {
        if (target.has_feature(isa) && !host.has_feature(isa)) {
            return false;
        }
    }
    return true;
}

using RunFunction = int (*)(const float *, float *);
using ThreadsFunction = int (*)(int);
using ErrorFunction = const char *(*)();

} // namespace

BenchResult benchmark_network(const BenchOptions &options) {
    NetworkModule network = build_network_module(options.compile, true, options.per_layer);
    if (!runs_here(Halide::Target(network.target))) {
        throw UserError("strata bench runs on this machine's CPU, and '" + options.compile.target +
                            "' is not a target it can run",
                        "use --target host");
    }

    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    auto jit = take(llvm::orc::LLJITBuilder().create(), "creating the JIT");
    auto &library = jit->getMainJITDylib();
    library.addGenerator(take(llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
                                  jit->getDataLayout().getGlobalPrefix()),
                              "searching this process's symbols"));
    llvm::orc::MangleAndInterner mangle(jit->getExecutionSession(), jit->getDataLayout());
    llvm::cantFail(library.define(llvm::orc::absoluteSymbols(
        {{mangle(kLayerHookSymbol),
          llvm::JITEvaluatedSymbol(llvm::pointerToJITTargetAddress(&layer_done),
                                   llvm::JITSymbolFlags::Exported)}})));
    network.module->setDataLayout(jit->getDataLayout());
    if (auto error = jit->addIRModule(
            llvm::orc::ThreadSafeModule(std::move(network.module), std::move(network.context)))) {
        throw InternalError("adding the network to the JIT: " + llvm::toString(std::move(error)));
    }
    const std::string &name = network.summary.name;
    auto lookup = [&](const std::string &suffix) {
        return take(jit->lookup(name + "_" + suffix), "finding " + name + "_" + suffix)
            .getAddress();
    };
    auto run = reinterpret_cast<RunFunction>(lookup("run"));
    auto set_threads = reinterpret_cast<ThreadsFunction>(lookup("set_num_threads"));
    auto last_error = reinterpret_cast<ErrorFunction>(lookup("last_error"));
    // The runtime's worker threads run JIT-compiled code: stop them before the
    // JIT frees that code.
    auto shutdown = reinterpret_cast<void (*)()>(
        take(jit->lookup("halide_shutdown_thread_pool"), "finding the thread pool").getAddress());

    std::vector<float> input(static_cast<size_t>(network.program.input.elements()));
    for (size_t i = 0; i < input.size(); ++i) {
        input[i] = static_cast<float>((i * 7919) % 1000) / 1000.0f - 0.5f;
    }
    std::vector<float> output(static_cast<size_t>(network.program.output.elements()));
    set_threads(options.threads);

    LayerClock clock;
    clock.samples.resize(network.program.calls.size());
    active_clock = &clock;
    std::vector<double> totals;
    for (int r = 0; r <= options.runs; ++r) {
        Clock::time_point start = Clock::now();
        clock.last = start;
        int code = run(input.data(), output.data());
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        if (code != 0) {
            active_clock = nullptr;
            shutdown();
            throw UserError("the network failed with code " + std::to_string(code) + ": " +
                            last_error());
        }
        if (r == 0) {
            // The warm-up run starts the thread pool and touches the weights.
            for (auto &s : clock.samples) {
                s.clear();
            }
            continue;
        }
        totals.push_back(ms);
    }
    active_clock = nullptr;
    shutdown();

    BenchResult result;
    result.network = name;
    result.target = network.target;
    result.threads = options.threads;
    result.runs = options.runs;
    result.median_ms = median(totals);
    result.min_ms = *std::min_element(totals.begin(), totals.end());
    result.max_ms = *std::max_element(totals.begin(), totals.end());
    result.weight_bytes = network.summary.weight_bytes;
    for (size_t i = 0; i < network.program.calls.size(); ++i) {
        const DriverCall &call = network.program.calls[i];
        result.macs += call.macs;
        if (options.per_layer) {
            result.layers.push_back(
                {call.layer, call.kernel, call.algorithm, median(clock.samples[i]), call.macs});
        }
    }
    return result;
}

} // namespace strata
