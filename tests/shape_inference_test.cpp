// Shape inference for every layer kind of the .strata language, and the
// naming rules that make layer names match PyTorch's state_dict. Expected
// sizes follow PyTorch's formulas (checked against torch 1.13):
//   out = floor_or_ceil((in + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1,
// where ceil mode drops a last window that would start in the end padding.
#include "frontend.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

using namespace strata;

namespace {

using Dims = std::vector<int64_t>;

Graph load(const std::string &input, const std::string &body) {
    return load_strata_text("shapes.strata", "input " + input + "\n" + body + "\n");
}

// The shape of the network's output, batch included.
Dims out(const std::string &input, const std::string &body) {
    return load(input, body).output_node().shape.dims;
}

Dims shape_of(const Graph &graph, const std::string &name) {
    NodeId id = graph.find(name);
    REQUIRE(id >= 0);
    return graph.node(id).shape.dims;
}

Graph load_example(const std::string &name) {
    return load_strata_file(STRATA_SOURCE_DIR "/examples/networks/" + name + ".strata");
}

} // namespace

// --- convolution ---

TEST_CASE("conv: plain, padded, strided", "[shapes]") {
    CHECK(out("3x8x8", "conv 16 3x3") == Dims{1, 16, 6, 6});
    CHECK(out("3x8x8", "conv 16 3x3 pad=1") == Dims{1, 16, 8, 8});
    CHECK(out("3x8x8", "conv 16 3x3 stride=2 pad=1") == Dims{1, 16, 4, 4});
    CHECK(out("3x9x9", "conv 4 3x3 stride=2") == Dims{1, 4, 4, 4});
    CHECK(out("3x7x7", "conv 4 1x1 stride=2") == Dims{1, 4, 4, 4});
    CHECK(out("3x224x224", "conv 64 7x7 stride=2 pad=3 bias=false") == Dims{1, 64, 112, 112});
    // A scalar kernel is square.
    CHECK(out("3x8x8", "conv 4 3") == Dims{1, 4, 6, 6});
}

TEST_CASE("conv: asymmetric kernel, stride, padding and dilation", "[shapes]") {
    CHECK(out("3x8x8", "conv 4 3x5") == Dims{1, 4, 6, 4});
    CHECK(out("3x8x8", "conv 4 3x3 stride=2x1") == Dims{1, 4, 3, 6});
    CHECK(out("3x8x8", "conv 4 3x3 pad=1x2") == Dims{1, 4, 8, 10});
    CHECK(out("3x8x8", "conv 4 3x3 dilation=2") == Dims{1, 4, 4, 4});
    CHECK(out("3x8x8", "conv 4 3x3 dilation=2 pad=2") == Dims{1, 4, 8, 8});
    CHECK(out("3x8x8", "conv 4 3x3 dilation=2x1") == Dims{1, 4, 4, 6});
}

TEST_CASE("conv: grouped and depthwise", "[shapes]") {
    CHECK(out("4x8x8", "conv 8 3x3 groups=2") == Dims{1, 8, 6, 6});
    CHECK(out("16x8x8", "conv 16 3x3 pad=1 groups=16 bias=false") == Dims{1, 16, 8, 8});
    CHECK(out("16x7x7", "conv 32 3x3 stride=2 pad=1 groups=16") == Dims{1, 32, 4, 4});
    CHECK(out("24x8x8", "conv 240 1x1 groups=3") == Dims{1, 240, 8, 8});
}

// --- pooling ---

TEST_CASE("maxpool: stride defaults to the kernel", "[shapes]") {
    CHECK(out("3x8x8", "maxpool 2x2") == Dims{1, 3, 4, 4});
    CHECK(out("3x9x9", "maxpool 3") == Dims{1, 3, 3, 3});
    CHECK(out("1x8x8", "maxpool 3x2 stride=1x2") == Dims{1, 1, 6, 4});
    CHECK(out("64x112x112", "maxpool 3x3 stride=2 pad=1") == Dims{1, 64, 56, 56});
    CHECK(out("1x8x8", "maxpool 3x3 stride=1 dilation=2") == Dims{1, 1, 4, 4});
}

TEST_CASE("maxpool: ceil mode", "[shapes]") {
    // PyTorch's MaxPool2d(3, 2, ceil_mode=True).
    CHECK(out("8x6x6", "maxpool 3x3 stride=2 ceil=true") == Dims{1, 8, 3, 3});
    CHECK(out("8x7x7", "maxpool 3x3 stride=2 ceil=true") == Dims{1, 8, 3, 3});
    CHECK(out("8x6x6", "maxpool 3x3 stride=2") == Dims{1, 8, 2, 2});
    CHECK(out("1x8x8", "maxpool 3x3 stride=2 pad=1 ceil=true") == Dims{1, 1, 5, 5});
    // MaxPool2d(2, 2, padding=1, ceil_mode=True) on 5: ceil((5 + 2 - 2) / 2) + 1 = 4
    // windows, but the last would start at 6, inside the end padding: 3.
    CHECK(out("1x5x5", "maxpool 2x2 stride=2 pad=1 ceil=true") == Dims{1, 1, 3, 3});
}

TEST_CASE("avgpool: padding and ceil mode", "[shapes]") {
    CHECK(out("3x5x5", "avgpool 2x2 stride=2 ceil=true") == Dims{1, 3, 3, 3});
    CHECK(out("3x5x5", "avgpool 2x2 stride=2") == Dims{1, 3, 2, 2});
    CHECK(out("3x7x7", "avgpool 3x3 stride=2 pad=1") == Dims{1, 3, 4, 4});
    CHECK(out("3x7x7", "avgpool 3x3 stride=2 pad=1 count_include_pad=false") == Dims{1, 3, 4, 4});
    CHECK(out("3x6x6", "avgpool 3x3 stride=2 pad=1 ceil=true") == Dims{1, 3, 4, 4});
    CHECK(out("3x7x7", "avgpool 3x3 ceil=true") == Dims{1, 3, 3, 3});
}

TEST_CASE("global pools keep N and C", "[shapes]") {
    CHECK(out("5x7x9", "global_avgpool") == Dims{1, 5, 1, 1});
    CHECK(out("5x7x9", "global_maxpool") == Dims{1, 5, 1, 1});
}

// --- layers that keep the shape ---

TEST_CASE("element-wise layers, batchnorm, softmax and lrn keep the shape", "[shapes]") {
    for (const char *layer : {"batchnorm", "batchnorm eps=1e-3", "relu", "relu6", "sigmoid",
                              "hardswish", "identity", "leaky_relu slope=0.1", "dropout p=0.2",
                              "softmax", "lrn size=3 alpha=1e-4 beta=0.75 k=2"}) {
        INFO(layer);
        CHECK(out("6x5x4", layer) == Dims{1, 6, 5, 4});
    }
    // On vectors too, except lrn which needs feature maps.
    for (const char *layer : {"batchnorm", "relu", "relu6", "sigmoid", "hardswish", "identity",
                              "leaky_relu", "dropout", "softmax"}) {
        INFO(layer);
        CHECK(out("10", layer) == Dims{1, 10});
    }
}

TEST_CASE("shuffle keeps the shape", "[shapes]") {
    CHECK(out("6x4x4", "shuffle 3") == Dims{1, 6, 4, 4});
    CHECK(out("6x4x4", "shuffle groups=2") == Dims{1, 6, 4, 4});
}

// --- vectors ---

TEST_CASE("flatten and linear", "[shapes]") {
    CHECK(out("3x4x5", "flatten") == Dims{1, 60});
    CHECK(out("7", "flatten") == Dims{1, 7});
    CHECK(out("3x4x5", "flatten\nlinear 10") == Dims{1, 10});
    CHECK(out("512", "linear 1000 bias=false") == Dims{1, 1000});
    CHECK(out("64x7x7", "global_avgpool\nflatten\nfc: linear 10") == Dims{1, 10});
}

// --- joins and splits ---

TEST_CASE("split parts, read by index", "[shapes]") {
    Graph graph = load("6x4x4", "s: split 3\nright: relu <- s[2]\nconcat <- s[0], right");
    CHECK(shape_of(graph, "s.0") == Dims{1, 2, 4, 4});
    CHECK(shape_of(graph, "s.2") == Dims{1, 2, 4, 4});
    CHECK(shape_of(graph, "right") == Dims{1, 2, 4, 4});
    CHECK(graph.output_node().shape.dims == Dims{1, 4, 4, 4});
    CHECK(out("8", "s: split 2\nrelu <- s[1]") == Dims{1, 4});
}

TEST_CASE("add and concat by reference", "[shapes]") {
    CHECK(out("3x8x8", "a: conv 3 1x1\nadd <- a, input") == Dims{1, 3, 8, 8});
    CHECK(out("3x8x8", "a: conv 3 1x1\nb: relu <- input\nadd <- a, b, input") == Dims{1, 3, 8, 8});
    CHECK(out("3x8x8", "a: conv 5 1x1\nconcat <- a, input") == Dims{1, 8, 8, 8});
    CHECK(out("3x8x8", "a: conv 16 1x1\nb: conv 16 3x3 pad=1 <- input\n"
                       "c: conv 16 5x5 pad=2 <- input\nconcat <- a, b, c") == Dims{1, 48, 8, 8});
    CHECK(out("4", "a: linear 6\nconcat <- a, input") == Dims{1, 10});
}

TEST_CASE("concat, add and residual blocks", "[shapes]") {
    CHECK(out("4x8x8", "concat { conv 6 1x1; maxpool 3x3 stride=1 pad=1 }") == Dims{1, 10, 8, 8});
    CHECK(out("4x8x8", "add { conv 4 1x1; identity }") == Dims{1, 4, 8, 8});
    CHECK(out("4x8x8", "concat split { identity; conv 5 1x1 }") == Dims{1, 7, 8, 8});
    CHECK(out("4x8x8", "residual { conv 4 3x3 pad=1; relu }") == Dims{1, 4, 8, 8});
    CHECK(out("4x8x8", "residual { conv 8 3x3 stride=2 pad=1 } shortcut { conv 8 1x1 stride=2 }") ==
          Dims{1, 8, 4, 4});
    // A false shortcut condition keeps the identity; a false residual
    // condition drops the add.
    CHECK(out("4x8x8", "residual { conv 4 1x1 } shortcut if false { conv 4 1x1 stride=2 }") ==
          Dims{1, 4, 8, 8});
    CHECK(out("4x8x8", "residual if false { conv 8 1x1 stride=2 }") == Dims{1, 8, 4, 4});
}

// --- naming ---

TEST_CASE("names: nn.Sequential-style indices", "[shapes]") {
    Graph graph = load("3x16x16", "features: {\n"
                                  "    conv 8 3x3 pad=1\n"
                                  "    relu\n"
                                  "    maxpool 2x2\n"
                                  "}\n"
                                  "classifier: { flatten; dropout; linear 10 }");
    CHECK(graph.find("features.0") >= 0);
    CHECK(graph.find("features.1") >= 0);
    CHECK(shape_of(graph, "features.2") == Dims{1, 8, 8, 8});
    CHECK(shape_of(graph, "classifier.2") == Dims{1, 10});
    // Unlabelled items at the top level are numbered too, labels take an index.
    graph = load("3x8x8", "relu\nx: relu\nrelu");
    CHECK(graph.find("0") >= 0);
    CHECK(graph.find("x") >= 0);
    CHECK(graph.find("2") >= 0);
    CHECK(graph.nodes.size() == 4);
}

TEST_CASE("names: block instances and labelled repetition", "[shapes]") {
    std::string block = "block basic(c, stride = 1) {\n"
                        "    residual {\n"
                        "        conv1: conv c 3x3 stride=stride pad=1 bias=false\n"
                        "        bn1: batchnorm\n"
                        "    } shortcut if stride != 1 {\n"
                        "        downsample: { conv c 1x1 stride=stride bias=false; batchnorm }\n"
                        "    }\n"
                        "}\n";
    Graph graph = load("8x8x8", block + "layer1: basic(8) * 2\n"
                                        "layer2: { basic(16, stride=2); basic(16) }\n"
                                        "basic(16)\n"
                                        "{ relu } * 3");
    CHECK(graph.find("layer1.0.conv1") >= 0);
    CHECK(graph.find("layer1.1.bn1") >= 0);
    CHECK(graph.find("layer1.2.conv1") < 0);
    CHECK(shape_of(graph, "layer2.0.conv1") == Dims{1, 16, 4, 4});
    CHECK(shape_of(graph, "layer2.0.downsample.0") == Dims{1, 16, 4, 4});
    CHECK(graph.find("layer2.0.downsample.1") >= 0);
    CHECK(graph.find("layer2.1.downsample.0") < 0);
    // Structural joins take no index: `add` in each instance.
    CHECK(graph.find("layer1.0.add") >= 0);
    CHECK(graph.find("layer2.1.add") >= 0);
    // Unlabelled calls and groups take the next index of their sequence.
    CHECK(graph.find("2.conv1") >= 0);
    CHECK(graph.find("3.0") >= 0);
    CHECK(graph.find("5.0") >= 0);
    CHECK(graph.output_node().name == "5.0");
}

TEST_CASE("names: inline blocks join the caller's sequence", "[shapes]") {
    Graph graph = load("4x8x8", "inline block dw_bn(channels, stride) {\n"
                                "    conv channels 3x3 stride=stride pad=1 groups=channels\n"
                                "    batchnorm\n"
                                "}\n"
                                "branch1: { dw_bn(4, 2); conv 8 1x1 bias=false }\n"
                                "dw_bn(8, 1) * 2");
    CHECK(shape_of(graph, "branch1.0") == Dims{1, 4, 4, 4});
    CHECK(graph.find("branch1.1") >= 0);
    CHECK(shape_of(graph, "branch1.2") == Dims{1, 8, 4, 4});
    // At the top level, after the group `branch1` (index 0): 1, 2, 3, 4.
    CHECK(graph.find("1") >= 0);
    CHECK(graph.find("4") >= 0);
    CHECK(graph.output_node().name == "4");
}

TEST_CASE("names: dotted labels and structural joins", "[shapes]") {
    Graph graph = load("4x8x8", "downsample.0: conv 4 1x1\n"
                                "residual { relu }\n"
                                "residual { relu }\n"
                                "concat { relu; relu }\n"
                                "concat split { relu; relu }\n"
                                "r: residual { relu }\n"
                                "c: add { relu; identity }");
    CHECK(graph.find("downsample.0") >= 0);
    CHECK(graph.find("add") >= 0);
    CHECK(graph.find("add_1") >= 0);
    CHECK(graph.find("concat") >= 0);
    CHECK(graph.find("concat_1") >= 0);
    CHECK(shape_of(graph, "split.0") == Dims{1, 4, 8, 8});
    CHECK(graph.find("split.1") >= 0);
    CHECK(graph.find("r") >= 0);
    CHECK(graph.find("c") >= 0);
    CHECK(graph.output_node().name == "c");
    // Layers inside residuals and branches are numbered in the enclosing
    // sequence: downsample.0 takes 0, the relus 1 to 7, the labelled join r
    // takes 8 after its body, and c's branches 9 and 10.
    CHECK(graph.find("1") >= 0);
    CHECK(graph.find("7") >= 0);
    CHECK(graph.find("8") < 0);
    CHECK(graph.node(graph.find("10")).op == OpKind::Identity);
}

TEST_CASE("names: a split's parts", "[shapes]") {
    Graph graph =
        load("4x8x8", "stage: { s: split 2; right: relu <- s[1]; concat <- s[0], right }");
    CHECK(graph.find("stage.s.0") >= 0);
    CHECK(graph.find("stage.s.1") >= 0);
    CHECK(graph.find("stage.right") >= 0);
    CHECK(graph.find("stage.2") >= 0);
}

// --- the example networks ---

TEST_CASE("resnet18 matches torchvision's names and shapes", "[shapes]") {
    Graph graph = load_example("resnet18");
    CHECK(graph.name == "resnet18");
    CHECK(graph.nodes.size() == 70);
    CHECK(shape_of(graph, "conv1") == Dims{1, 64, 112, 112});
    CHECK(shape_of(graph, "maxpool") == Dims{1, 64, 56, 56});
    CHECK(shape_of(graph, "layer1.0.conv1") == Dims{1, 64, 56, 56});
    CHECK(shape_of(graph, "layer2.0.downsample.0") == Dims{1, 128, 28, 28});
    CHECK(graph.find("layer2.0.downsample.1") >= 0);
    CHECK(graph.find("layer1.0.downsample.0") < 0);
    CHECK(shape_of(graph, "layer4.1.bn2") == Dims{1, 512, 7, 7});
    CHECK(graph.output_node().name == "fc");
    CHECK(graph.output_node().shape.dims == Dims{1, 1000});
}

TEST_CASE("mobilenet_v2 matches torchvision's names and shapes", "[shapes]") {
    Graph graph = load_example("mobilenet_v2");
    CHECK(graph.nodes.size() == 154);
    CHECK(shape_of(graph, "features.0.0") == Dims{1, 32, 112, 112});
    // features.1 has no expansion: conv.0 is the depthwise Conv2dNormActivation.
    CHECK(shape_of(graph, "features.1.conv.0.0") == Dims{1, 32, 112, 112});
    CHECK(shape_of(graph, "features.1.conv.1") == Dims{1, 16, 112, 112});
    CHECK(shape_of(graph, "features.2.conv.0.0") == Dims{1, 96, 112, 112});
    CHECK(shape_of(graph, "features.2.conv.1.0") == Dims{1, 96, 56, 56});
    CHECK(shape_of(graph, "features.2.conv.3") == Dims{1, 24, 56, 56});
    CHECK(shape_of(graph, "features.18.0") == Dims{1, 1280, 7, 7});
    CHECK(shape_of(graph, "classifier.1") == Dims{1, 1000});
    CHECK(graph.output_node().name == "classifier.1");
}

TEST_CASE("shufflenet_v2_x1_0 matches torchvision's names and shapes", "[shapes]") {
    Graph graph = load_example("shufflenet_v2_x1_0");
    CHECK(graph.nodes.size() == 225);
    CHECK(shape_of(graph, "conv1.0") == Dims{1, 24, 112, 112});
    CHECK(shape_of(graph, "maxpool") == Dims{1, 24, 56, 56});
    CHECK(shape_of(graph, "stage2.0.branch1.0") == Dims{1, 24, 28, 28});
    CHECK(shape_of(graph, "stage2.0.branch1.2") == Dims{1, 58, 28, 28});
    CHECK(shape_of(graph, "stage2.1.branch2.3") == Dims{1, 58, 28, 28});
    CHECK(shape_of(graph, "stage4.3.branch2.7") == Dims{1, 232, 7, 7});
    CHECK(graph.find("stage2.1.branch1.0") < 0);
    CHECK(shape_of(graph, "conv5.0") == Dims{1, 1024, 7, 7});
    CHECK(graph.output_node().shape.dims == Dims{1, 1000});
}

TEST_CASE("every example network loads", "[shapes]") {
    for (const char *name : {"alexnet", "mobilenet_v1", "mobilenet_v2", "resnet18", "resnet34",
                             "resnet50", "shufflenet_v1", "shufflenet_v2_x1_0", "vgg16"}) {
        INFO(name);
        Graph graph = load_example(name);
        CHECK(graph.output_node().shape.dims == Dims{1, 1000});
    }
}
