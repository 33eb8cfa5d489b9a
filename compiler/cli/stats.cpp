#include "command.h"
#include "cost_report.h"
#include "frontend.h"
#include "options.h"

#include <iostream>
#include <nlohmann/json.hpp>

namespace strata::cli {

int run_stats(const std::vector<std::string> &args) {
    po::options_description options("options");
    options.add_options()("format", po::value<std::string>()->default_value("table"),
                          "output format: table or json");
    po::variables_map values;
    if (!parse_command("stats",
                       "Prints every layer's output shape, activation memory (KB of 1024 bytes, "
                       "4 bytes an element),\nweights (thousands), and multiply-accumulates "
                       "(millions), then the totals. In-place\nactivations are folded into the "
                       "row of the layer they follow.",
                       args, options, values)) {
        return kOk;
    }
    std::string format = values["format"].as<std::string>();
    if (format != "table" && format != "json") {
        throw UsageError{"--format must be 'table' or 'json', got '" + format + "'"};
    }
    Graph graph = load_strata_file(values["file"].as<std::string>());
    CostReport report = report_costs(graph);
    if (format == "json") {
        std::cout << cost_report_json(report).dump(2) << "\n";
    } else {
        std::cout << format_cost_table(report);
    }
    return kOk;
}

} // namespace strata::cli
