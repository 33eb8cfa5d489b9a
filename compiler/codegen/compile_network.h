// `strata compile`: from a network description to PREFIX.a and PREFIX.h.
//
//   load and verify ─▶ optimise (passes/pipeline.h) ─▶ plan memory ─▶
//   lower each node to a Halide kernel, one per distinct key ─▶ link the
//   kernels into one module with one runtime ─▶ emit the driver ─▶ object
//   file ─▶ static library, and the header.
#pragma once

#include "codegen/driver_program.h"
#include "lower/lower_node.h"
#include "passes/pipeline.h"
#include "weights.h"

#include <deque>
#include <memory>
#include <string>

namespace llvm {
class LLVMContext;
class Module;
} // namespace llvm

namespace strata {

struct CompileOptions {
    std::string source;  // the .strata file
    std::string weights; // a .safetensors file, or empty for He initialisation
    std::string target;  // a Halide target string, or "host"
    std::string output_prefix;
    std::string name; // C symbol prefix; empty: the network's name
    OptimiseOptions optimise;
};

struct CompileSummary {
    std::string library;
    std::string header;
    std::string name;
    int layers = 0;  // nodes that run a kernel
    int kernels = 0; // distinct kernels compiled
    int64_t arena_bytes = 0;
    int64_t weight_bytes = 0;
};

/// Throws UserError on bad input (file, weights, target string, name).
CompileSummary compile_network(const CompileOptions &options);

/// A network lowered to one LLVM module: kernels, one Halide runtime and the
/// driver. What compile_network writes out, and what `strata bench` runs.
struct NetworkModule {
    NetworkModule();
    NetworkModule(NetworkModule &&) noexcept;
    ~NetworkModule();

    DriverProgram program; // its weights point into `packed_weights`
    WeightStore weights;
    std::deque<PackedWeight> packed_weights; // in the layouts the kernels read
    CompileSummary summary;
    std::string target; // the resolved Halide target string
    std::unique_ptr<llvm::LLVMContext> context;
    std::unique_ptr<llvm::Module> module;
};

/// Everything compile_network does before writing files. `for_jit` keeps the
/// driver free of thread-locals; `layer_hook` adds DriverProgram::layer_hook.
NetworkModule build_network_module(const CompileOptions &options, bool for_jit = false,
                                   bool layer_hook = false);

/// Checks a Halide target string ("host" included) and throws a UserError
/// naming it and giving examples when Halide does not accept it.
void validate_target(const std::string &target);

} // namespace strata
