#include "command.h"
#include "frontend.h"
#include "npy.h"
#include "options.h"
#include "reference_interpreter.h"
#include "weights.h"

#include <iostream>

namespace strata::cli {

int run_run(const std::vector<std::string> &args) {
    po::options_description options("options");
    options.add_options()("input", po::value<std::string>(),
                          "input tensor, a float32 .npy file in NCHW (required)")(
        "output", po::value<std::string>(), "where to write the output tensor (.npy) (required)")(
        "weights", po::value<std::string>(),
        "a .safetensors file with the network's tensors, named as in PyTorch's state_dict; "
        "without it, weights are He-initialised with a fixed seed")(
        "reference", po::bool_switch(),
        "run the reference interpreter (the only back end so far, and the default)");
    po::variables_map values;
    if (!parse_command("run",
                       "Runs the network on one input and writes its output, with the plain C++ "
                       "reference interpreter.",
                       args, options, values)) {
        return kOk;
    }
    for (const char *required : {"input", "output"}) {
        if (!values.count(required)) {
            throw UsageError{std::string("missing --") + required};
        }
    }
    Graph graph = load_strata_file(values["file"].as<std::string>());
    WeightStore weights = values.count("weights")
                              ? load_weights(values["weights"].as<std::string>())
                              : initialize_weights(graph);
    verify_weights(graph, weights);

    std::string input_path = values["input"].as<std::string>();
    Tensor input = read_npy(input_path);
    // The batch is 1, so an input saved without its batch axis is accepted too.
    const Shape &expected = graph.input().shape;
    Shape unbatched{{expected.dims.begin() + 1, expected.dims.end()}};
    if (input.shape == unbatched) {
        input.shape = expected;
    }
    if (input.shape != expected) {
        std::string tuple;
        for (int64_t d : expected.dims) {
            tuple += (tuple.empty() ? "" : ", ") + std::to_string(d);
        }
        throw UserError(input_path + ": the input has shape " + input.shape.str() +
                            " but network '" + graph.name + "' takes " + expected.str(),
                        "save an array of shape (" + tuple + ") as float32");
    }
    auto lookup = [&weights](const std::string &name) { return *weights.find(name); };
    Tensor output = run_reference(graph, lookup, input);
    write_npy(values["output"].as<std::string>(), output);
    return kOk;
}

} // namespace strata::cli
