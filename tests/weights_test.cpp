#include "temp_dir.h"
#include "weights.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <set>

using namespace strata;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using strata::test::TempDir;

namespace {

ConvAttrs conv_attrs(int64_t out_channels, int64_t kernel, bool bias) {
    ConvAttrs conv;
    conv.out_channels = out_channels;
    conv.window.kernel = {kernel, kernel};
    conv.window.pad_begin = {kernel / 2, kernel / 2};
    conv.window.pad_end = {kernel / 2, kernel / 2};
    conv.bias = bias;
    return conv;
}

// Appends a node reading the last one, with its output shape set by hand (as
// infer_shapes would).
NodeId append(Graph &graph, const std::string &name, OpKind op, Shape shape,
              Attributes attrs = {}) {
    Node node;
    node.name = name;
    node.op = op;
    if (!graph.nodes.empty()) {
        node.inputs = {static_cast<NodeId>(graph.nodes.size()) - 1};
    }
    node.attrs = std::move(attrs);
    node.shape = std::move(shape);
    graph.output = graph.add(std::move(node));
    return graph.output;
}

// input 1x3x8x8 -> conv1 (8, 3x3, no bias) -> bn1 -> relu -> [conv2] -> flatten -> fc (10)
Graph small_network(bool with_conv2 = false) {
    Graph graph;
    graph.name = "small";
    append(graph, "input", OpKind::Input, Shape{{1, 3, 8, 8}});
    append(graph, "conv1", OpKind::Conv, Shape{{1, 8, 8, 8}}, conv_attrs(8, 3, false));
    append(graph, "bn1", OpKind::BatchNorm, Shape{{1, 8, 8, 8}}, BatchNormAttrs{});
    append(graph, "relu1", OpKind::Relu, Shape{{1, 8, 8, 8}});
    if (with_conv2) {
        append(graph, "conv2", OpKind::Conv, Shape{{1, 8, 8, 8}}, conv_attrs(8, 3, true));
    }
    append(graph, "flatten", OpKind::Flatten, Shape{{1, 512}});
    LinearAttrs linear;
    linear.out_features = 10;
    append(graph, "fc", OpKind::Linear, Shape{{1, 10}}, linear);
    return graph;
}

std::vector<float> values(const TensorView &view) {
    return std::vector<float>(view.data, view.data + view.shape.elements());
}

// A store holding copies of `source`'s tensors, less `skip`, plus `extra`.
WeightStore copy_store(const WeightStore &source, const std::set<std::string> &skip,
                       const std::vector<std::pair<std::string, Shape>> &extra = {}) {
    WeightStore copy("test.safetensors");
    for (const std::string &name : source.names()) {
        if (skip.count(name) == 0) {
            const TensorView &view = *source.find(name);
            Tensor tensor(view.shape);
            tensor.data = values(view);
            copy.add(name, std::move(tensor));
        }
    }
    for (const auto &[name, shape] : extra) {
        copy.add(name, Tensor(shape));
    }
    return copy;
}

UserError verify_error(const Graph &graph, const WeightStore &weights) {
    try {
        verify_weights(graph, weights);
    } catch (const UserError &e) {
        return e;
    }
    return UserError("no error");
}

// FNV-1a over a tensor's bytes: a fingerprint of its exact values.
uint64_t fingerprint(const TensorView &view) {
    uint64_t hash = 0xcbf29ce484222325ull;
    const unsigned char *bytes = reinterpret_cast<const unsigned char *>(view.data);
    for (size_t i = 0; i < static_cast<size_t>(view.shape.elements()) * sizeof(float); ++i) {
        hash = (hash ^ bytes[i]) * 0x100000001b3ull;
    }
    return hash;
}

} // namespace

TEST_CASE("weights: initialize_weights makes every tensor the graph needs", "[weights]") {
    Graph graph = small_network();
    WeightStore weights = initialize_weights(graph);
    CHECK(weights.names() == std::vector<std::string>{"bn1.bias", "bn1.running_mean",
                                                      "bn1.running_var", "bn1.weight",
                                                      "conv1.weight", "fc.bias", "fc.weight"});
    CHECK(weights.find("conv1.weight")->shape == Shape{{8, 3, 3, 3}});
    CHECK(weights.find("fc.weight")->shape == Shape{{10, 512}});
    CHECK_NOTHROW(verify_weights(graph, weights));
}

TEST_CASE("weights: batch norm starts as the identity and biases as zero", "[weights]") {
    Graph graph = small_network(true);
    WeightStore weights = initialize_weights(graph);
    CHECK(values(*weights.find("bn1.weight")) == std::vector<float>(8, 1.0f));
    CHECK(values(*weights.find("bn1.bias")) == std::vector<float>(8, 0.0f));
    CHECK(values(*weights.find("bn1.running_mean")) == std::vector<float>(8, 0.0f));
    CHECK(values(*weights.find("bn1.running_var")) == std::vector<float>(8, 1.0f));
    CHECK(values(*weights.find("conv2.bias")) == std::vector<float>(8, 0.0f));
    CHECK(values(*weights.find("fc.bias")) == std::vector<float>(10, 0.0f));
}

TEST_CASE("weights: He initialisation has the right spread and a normal shape", "[weights]") {
    Graph graph;
    append(graph, "input", OpKind::Input, Shape{{1, 16, 8, 8}});
    append(graph, "conv", OpKind::Conv, Shape{{1, 64, 8, 8}}, conv_attrs(64, 3, false));
    append(graph, "flatten", OpKind::Flatten, Shape{{1, 4096}});
    LinearAttrs linear;
    linear.out_features = 8;
    append(graph, "fc", OpKind::Linear, Shape{{1, 8}}, linear);
    WeightStore weights = initialize_weights(graph);

    auto check_spread = [](const TensorView &view, double expected) {
        std::vector<float> v = values(view);
        double sum = 0;
        double squares = 0;
        size_t within_one = 0;
        for (float x : v) {
            sum += x;
            squares += static_cast<double>(x) * x;
            within_one += std::abs(x) < expected ? 1 : 0;
        }
        double n = static_cast<double>(v.size());
        double mean = sum / n;
        double deviation = std::sqrt(squares / n - mean * mean);
        CHECK(std::abs(mean) < 0.05 * expected);
        CHECK(deviation == Approx(expected).epsilon(0.03));
        // A normal puts 68.3% of its mass within one deviation (a uniform 57.7%).
        CHECK(static_cast<double>(within_one) / n == Approx(0.683).margin(0.02));
    };
    check_spread(*weights.find("conv.weight"), std::sqrt(2.0 / (16 * 3 * 3)));
    check_spread(*weights.find("fc.weight"), std::sqrt(2.0 / 4096));
}

TEST_CASE("weights: initialisation is deterministic and per tensor", "[weights]") {
    Graph graph = small_network();
    WeightStore first = initialize_weights(graph);
    WeightStore second = initialize_weights(graph);
    for (const std::string &name : first.names()) {
        const TensorView &a = *first.find(name);
        const TensorView &b = *second.find(name);
        REQUIRE(a.shape == b.shape);
        CHECK(std::memcmp(a.data, b.data, sizeof(float) * a.shape.elements()) == 0);
    }
    // The exact bytes are part of what `strata compile` promises without
    // --weights: a change here changes every network's default weights.
    CHECK(fingerprint(*first.find("conv1.weight")) == 0xe2f3ffd2737ad926ull);
    CHECK(fingerprint(*first.find("fc.weight")) == 0x2b2079dfe8221a96ull);

    WeightStore reseeded = initialize_weights(graph, 42);
    CHECK(values(*reseeded.find("conv1.weight")) != values(*first.find("conv1.weight")));

    // Another layer in the network leaves the existing layers' weights alone.
    WeightStore grown = initialize_weights(small_network(true));
    CHECK(values(*grown.find("conv1.weight")) == values(*first.find("conv1.weight")));
    CHECK(values(*grown.find("fc.weight")) == values(*first.find("fc.weight")));
    CHECK(values(*grown.find("conv2.weight")) != values(*first.find("conv1.weight")));
}

TEST_CASE("weights: a store moves without invalidating its views", "[weights]") {
    WeightStore weights = initialize_weights(small_network());
    const float *data = weights.find("fc.weight")->data;
    WeightStore moved = std::move(weights);
    CHECK(moved.find("fc.weight")->data == data);
    CHECK(moved.source() == "initialised weights");
}

TEST_CASE("weights: saved weights load from safetensors and verify", "[weights]") {
    TempDir dir;
    Graph graph = small_network();
    WeightStore weights = initialize_weights(graph);
    std::vector<std::pair<std::string, TensorView>> views;
    for (const std::string &name : weights.names()) {
        views.push_back({name, *weights.find(name)});
    }
    std::string path = dir.file("small.safetensors");
    write_safetensors(path, views);

    WeightStore loaded = load_weights(path);
    CHECK(loaded.source() == path);
    CHECK(loaded.names() == weights.names());
    CHECK(values(*loaded.find("conv1.weight")) == values(*weights.find("conv1.weight")));
    CHECK_NOTHROW(verify_weights(graph, loaded));

    // The same file for a network with a wider fc fails, naming the file.
    Graph wider = small_network();
    wider.nodes.back().attr<LinearAttrs>().out_features = 12;
    wider.nodes.back().shape = Shape{{1, 12}};
    CHECK_THAT(verify_error(wider, loaded).message(),
               Equals(path + ": tensor 'fc.weight' has shape 10x512 but layer 'fc' (linear) "
                             "needs 12x512"));
}

TEST_CASE("weights: a missing tensor is named with its layer", "[weights]") {
    Graph graph = small_network();
    WeightStore full = initialize_weights(graph);
    UserError error = verify_error(graph, copy_store(full, {"bn1.running_var"}));
    CHECK_THAT(error.message(), Equals("test.safetensors: tensor 'bn1.running_var' (8) for layer "
                                       "'bn1' (batchnorm) is missing"));
    CHECK(error.notes().empty());
    CHECK_THAT(error.help(), Contains("other tensors of this layer"));

    UserError absent = verify_error(
        graph, copy_store(full, {"bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"}));
    CHECK_THAT(absent.message(), Contains("tensor 'bn1.weight' (8) for layer 'bn1'"));
    CHECK_THAT(absent.help(), Contains("no tensors for this layer"));

    UserError bias = verify_error(graph, copy_store(full, {"fc.bias"}));
    CHECK_THAT(bias.help(), Contains("bias=false"));
}

TEST_CASE("weights: a mis-shaped tensor names both shapes and the layer's line", "[weights]") {
    Graph graph = small_network();
    auto source = std::make_shared<const SourceFile>("small.strata", "a\nb\nc\nconv1: conv\n");
    graph.nodes[1].location = SourceLocation{source, 4, 1, 5};
    graph.nodes[1].call_sites = {SourceLocation{source, 2, 1, 1}};
    WeightStore weights = copy_store(initialize_weights(graph), {"conv1.weight"},
                                     {{"conv1.weight", Shape{{8, 3, 7, 7}}}});
    UserError error = verify_error(graph, weights);
    CHECK_THAT(error.message(), Equals("test.safetensors: tensor 'conv1.weight' has shape 8x3x7x7 "
                                       "but layer 'conv1' (conv, line 4) needs 8x3x3x3"));
    CHECK_THAT(error.help(), Contains("out_channels x (in_channels / groups)"));
    REQUIRE(error.notes().size() == 2);
    CHECK(error.notes()[0].location.line == 4);
    CHECK_THAT(error.render(), Contains("small.strata:4:1: note: layer 'conv1' is here") &&
                                   Contains("small.strata:2:1: note: in the block called here"));
}

TEST_CASE("weights: an extra tensor is reported, with a hint when one is close", "[weights]") {
    Graph graph = small_network();
    WeightStore full = initialize_weights(graph);

    UserError stray = verify_error(graph, copy_store(full, {}, {{"head.weight", Shape{{3}}}}));
    CHECK_THAT(stray.message(),
               Equals("test.safetensors: tensor 'head.weight' belongs to no layer"));
    CHECK_THAT(stray.help(), Contains("remove it from the file"));

    UserError bias = verify_error(graph, copy_store(full, {}, {{"conv1.bias", Shape{{8}}}}));
    CHECK_THAT(bias.message(), Contains("tensor 'conv1.bias' belongs to no layer: layer 'conv1' "
                                        "(conv) takes only weight"));
    CHECK_THAT(bias.help(), Contains("bias=true"));

    UserError bn = verify_error(graph, copy_store(full, {}, {{"relu1.weight", Shape{{8}}}}));
    CHECK_THAT(bn.message(), Contains("layer 'relu1' (relu) takes no tensors"));

    // A DataParallel prefix: the missing tensor's help points at the stray one.
    UserError prefixed = verify_error(
        graph, copy_store(full, {"fc.weight"}, {{"module.fc.weight", Shape{{10, 512}}}}));
    CHECK_THAT(prefixed.message(), Contains("tensor 'fc.weight' (10x512) for layer 'fc'"));
    CHECK_THAT(prefixed.help(), Contains("unused tensor 'module.fc.weight'"));

    // A misspelt name: the missing tensor's help names the misspelt one.
    WeightStore typo = copy_store(full, {"bn1.running_var"}, {{"bn1.runing_var", Shape{{8}}}});
    UserError typo_error = verify_error(graph, typo);
    CHECK_THAT(typo_error.help(), Contains("'bn1.runing_var'"));
}

TEST_CASE("weights: the first problem is shown and the others counted", "[weights]") {
    Graph graph = small_network();
    WeightStore weights = copy_store(initialize_weights(graph), {"conv1.weight", "fc.bias"},
                                     {{"fc2.weight", Shape{{2}}}, {"fc3.weight", Shape{{2}}}});
    UserError error = verify_error(graph, weights);
    CHECK_THAT(error.message(), Contains("tensor 'conv1.weight' (8x3x3x3)"));
    REQUIRE(error.notes().size() == 1);
    CHECK_THAT(error.notes()[0].message,
               Equals("3 more problems with the weights: 1 missing tensor, 2 extra tensors"));
}

TEST_CASE("weights: batch norm's num_batches_tracked is ignored only on batch norms", "[weights]") {
    Graph graph = small_network();
    WeightStore full = initialize_weights(graph);
    CHECK_NOTHROW(
        verify_weights(graph, copy_store(full, {}, {{"bn1.num_batches_tracked", Shape{}}})));
    CHECK_THAT(verify_error(graph, copy_store(full, {}, {{"conv1.num_batches_tracked", Shape{}}}))
                   .message(),
               Contains("tensor 'conv1.num_batches_tracked' belongs to no layer"));
}
