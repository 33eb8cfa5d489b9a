#include "codegen/compile_network.h"
#include "command.h"
#include "options.h"

#include <iostream>

namespace strata::cli {

int run_compile(const std::vector<std::string> &args) {
    po::options_description options("options");
    options.add_options()(
        "target", po::value<std::string>()->default_value("host"),
        "Halide target: x86-64-linux-avx2-fma, x86-64-linux-avx512_skylake, arm-64-linux, "
        "x86-64-linux-cuda, host, ...")("output,o", po::value<std::string>(),
                                        "output prefix: writes PREFIX.a and PREFIX.h "
                                        "(required)")(
        "weights", po::value<std::string>(),
        "a .safetensors file with the network's tensors, named as in PyTorch's state_dict; "
        "without it, weights are He-initialised with a fixed seed")(
        "name", po::value<std::string>(),
        "prefix of the generated C symbols (default: the network's name)")(
        "dump-after", po::value<std::vector<std::string>>()->composing(),
        "print the graph after this pass (repeatable; 'all' for every pass)")(
        "time-passes", po::bool_switch(), "print each pass's time and statistics");
    po::variables_map values;
    if (!parse_command("compile",
                       "Compiles the network to a static library and a C header that any C or "
                       "C++ program links\n(with -lpthread -ldl). The weights are inside the "
                       "library.",
                       args, options, values)) {
        return kOk;
    }
    if (!values.count("output")) {
        throw UsageError{"missing -o PREFIX"};
    }
    CompileOptions compile;
    compile.source = values["file"].as<std::string>();
    compile.target = values["target"].as<std::string>();
    compile.output_prefix = values["output"].as<std::string>();
    if (values.count("weights")) {
        compile.weights = values["weights"].as<std::string>();
    }
    if (values.count("name")) {
        compile.name = values["name"].as<std::string>();
    }
    if (values.count("dump-after")) {
        compile.optimise.dump_after = values["dump-after"].as<std::vector<std::string>>();
    }
    compile.optimise.time_passes = values["time-passes"].as<bool>();
    compile.optimise.log = &std::cerr;

    CompileSummary summary = compile_network(compile);
    std::cout << "wrote " << summary.library << " and " << summary.header
              << "\n  layers run: " << summary.layers << ", distinct kernels: " << summary.kernels
              << ", arena: " << summary.arena_bytes << " bytes, weights: " << summary.weight_bytes
              << " bytes\n";
    return kOk;
}

} // namespace strata::cli
