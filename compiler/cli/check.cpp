#include "command.h"
#include "frontend.h"
#include "options.h"

#include <iostream>

namespace strata::cli {

int run_check(const std::vector<std::string> &args) {
    po::options_description options("options");
    po::variables_map values;
    if (!parse_command("check", "Parses the file, elaborates it and infers every layer's shape.",
                       args, options, values)) {
        return kOk;
    }
    Graph graph = load_strata_file(values["file"].as<std::string>());
    std::cout << graph.name << ": ok, " << graph.nodes.size() - 1 << " layers, input "
              << graph.input().shape.str() << ", output " << graph.output_node().shape.str()
              << "\n";
    return kOk;
}

} // namespace strata::cli
