// strata stats: the AlexNet table of shared/reference/cnn-tables.md, cell by
// cell, and the VGG-16 totals.
#include "cost_report.h"
#include "frontend.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>

using namespace strata;

namespace {

std::string example(const std::string &name) {
    return std::string(STRATA_SOURCE_DIR) + "/examples/networks/" + name + ".strata";
}

struct TableRow {
    const char *op;
    std::vector<int64_t> output; // without the batch
    int64_t memory_kb;
    int64_t weights_k;
    int64_t macs_m;
};

int64_t nearest(int64_t value, double unit) {
    return std::llround(static_cast<double>(value) / unit);
}

} // namespace

TEST_CASE("stats reproduces the course's AlexNet table cell by cell", "[stats]") {
    // conv1, pool1, conv2, pool2, conv3, conv4, conv5, pool5, flatten, fc6, fc7, fc8
    const std::vector<TableRow> table = {
        {"conv", {64, 56, 56}, 784, 23, 73},    {"maxpool", {64, 27, 27}, 182, 0, 0},
        {"conv", {192, 27, 27}, 547, 307, 224}, {"maxpool", {192, 13, 13}, 127, 0, 0},
        {"conv", {384, 13, 13}, 254, 664, 112}, {"conv", {256, 13, 13}, 169, 885, 150},
        {"conv", {256, 13, 13}, 169, 590, 100}, {"maxpool", {256, 6, 6}, 36, 0, 0},
        {"flatten", {9216}, 36, 0, 0},          {"linear", {4096}, 16, 37749, 38},
        {"linear", {4096}, 16, 16777, 17},      {"linear", {1000}, 4, 4096, 4},
    };
    CostReport report = report_costs(load_strata_file(example("alexnet")));
    REQUIRE(report.layers.size() == table.size());
    for (size_t i = 0; i < table.size(); ++i) {
        const LayerCost &row = report.layers[i];
        INFO("row " << i << ": " << row.name);
        CHECK(op_name(row.ops.front()) == std::string(table[i].op));
        std::vector<int64_t> output(row.output.dims.begin() + 1, row.output.dims.end());
        CHECK(output == table[i].output);
        CHECK(nearest(row.memory_bytes, 1024) == table[i].memory_kb);
        CHECK(nearest(row.weights, 1000) == table[i].weights_k);
        CHECK(nearest(row.macs, 1e6) == table[i].macs_m);
    }
    // The course's totals: 61 million parameters, 0.7 billion multiply-accumulates.
    CHECK(nearest(report.totals.weights, 1e6) == 61);
    CHECK(nearest(report.totals.macs, 1e8) == 7);
    // And PyTorch's count of torchvision's AlexNet, biases included.
    CHECK(report.totals.weights + report.totals.biases == 61100840);
}

TEST_CASE("the AlexNet table prints the course's figures", "[stats]") {
    std::string table = format_cost_table(report_costs(load_strata_file(example("alexnet"))));
    CHECK_THAT(table, Catch::Contains("features.8    conv+relu            256x13x13       3"));
    CHECK_THAT(table, Catch::Contains("37,749"));
    CHECK_THAT(table, Catch::Contains("parameters: 61,090,496 weights + 10,344 biases = "
                                      "61,100,840"));
}

TEST_CASE("stats gives VGG-16's totals", "[stats]") {
    CostReport report = report_costs(load_strata_file(example("vgg16")));
    // 138.3 M weights, 138.36 M with biases, 15.47 G multiply-accumulates.
    CHECK(nearest(report.totals.weights, 1e5) == 1383);
    CHECK(nearest(report.totals.weights + report.totals.biases, 1e4) == 13836);
    CHECK(report.totals.weights + report.totals.biases == 138357544);
    CHECK(nearest(report.totals.macs, 1e7) == 1547);
}

TEST_CASE("parameter totals match PyTorch's counts of the torchvision models", "[stats]") {
    // sum(p.numel() for p in model.parameters()) for torchvision 0.14's models.
    const std::vector<std::pair<const char *, int64_t>> counts = {
        {"resnet18", 11689512},    {"resnet34", 21797672},          {"resnet50", 25557032},
        {"mobilenet_v2", 3504872}, {"shufflenet_v2_x1_0", 2278604},
    };
    for (const auto &[name, expected] : counts) {
        INFO(name);
        CostReport report = report_costs(load_strata_file(example(name)));
        CHECK(report.totals.weights + report.totals.biases == expected);
    }
}

TEST_CASE("stats as JSON carries every row and the totals", "[stats]") {
    nlohmann::json json = cost_report_json(report_costs(load_strata_file(example("alexnet"))));
    CHECK(json["network"] == "alexnet");
    REQUIRE(json["layers"].size() == 12);
    const nlohmann::json &conv1 = json["layers"][0];
    CHECK(conv1["name"] == "features.0");
    CHECK(conv1["op"] == "conv");
    CHECK(conv1["output_shape"] == std::vector<int64_t>{1, 64, 56, 56});
    CHECK(conv1["memory_bytes"] == 64 * 56 * 56 * 4);
    CHECK(conv1["weights"] == 64 * 3 * 11 * 11);
    CHECK(conv1["biases"] == 64);
    CHECK(conv1["macs"] == int64_t{64} * 56 * 56 * 3 * 11 * 11);
    CHECK(json["totals"]["macs"] == 716767232);
}
