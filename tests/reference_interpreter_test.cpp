// Hand-computed cases for every operator of the reference interpreter. The
// expected values were worked out on paper (and, for the pooling edge cases,
// agree with PyTorch 1.13); tests/torch/ compares whole layers with PyTorch.
#include "reference_interpreter.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <string>
#include <vector>

using namespace strata;

namespace {

Shape shape_of(std::vector<int64_t> dims) {
    return Shape{std::move(dims)};
}

Tensor tensor(Shape shape, std::vector<float> values) {
    Tensor t(std::move(shape));
    REQUIRE(values.size() == t.data.size());
    t.data = std::move(values);
    return t;
}

// 0, 1, 2, ... in row-major order: every pixel tells where it came from.
Tensor ramp(Shape shape) {
    Tensor t(std::move(shape));
    for (size_t i = 0; i < t.data.size(); ++i) {
        t.data[i] = static_cast<float>(i);
    }
    return t;
}

// A graph under construction plus the parameters its nodes own. The last
// node added is the output.
class TestNet {
  public:
    explicit TestNet(Shape input_shape) {
        Node input;
        input.name = "input";
        input.op = OpKind::Input;
        input.shape = std::move(input_shape);
        graph_.add(std::move(input));
        graph_.output = 0;
    }

    NodeId add(const std::string &name, OpKind op, std::vector<NodeId> inputs, Shape shape,
               Attributes attrs = {}) {
        Node node;
        node.name = name;
        node.op = op;
        node.inputs = std::move(inputs);
        node.attrs = std::move(attrs);
        node.shape = std::move(shape);
        graph_.output = graph_.add(std::move(node));
        return graph_.output;
    }

    NodeId add(const std::string &name, OpKind op, Shape shape, Attributes attrs = {}) {
        return add(name, op, {graph_.output}, std::move(shape), std::move(attrs));
    }

    void set_parameter(const std::string &name, Tensor value) { params_[name] = std::move(value); }

    Tensor run(const Tensor &input) const {
        WeightSource source = [this](const std::string &name) {
            auto it = params_.find(name);
            if (it == params_.end()) {
                throw UserError("no tensor '" + name + "'");
            }
            return TensorView{it->second.shape, it->second.data.data()};
        };
        return run_reference(graph_, source, input);
    }

    Graph &graph() { return graph_; }

  private:
    Graph graph_;
    std::map<std::string, Tensor> params_;
};

ConvAttrs conv_attrs(int64_t out_channels, Pair kernel, bool bias = false) {
    ConvAttrs conv;
    conv.out_channels = out_channels;
    conv.window.kernel = kernel;
    conv.bias = bias;
    return conv;
}

PoolAttrs pool_attrs(Pair kernel, Pair stride, Pair pad, bool ceil_mode = false) {
    PoolAttrs pool;
    pool.window.kernel = kernel;
    pool.window.stride = stride;
    pool.window.pad_begin = pad;
    pool.window.pad_end = pad;
    pool.window.ceil_mode = ceil_mode;
    return pool;
}

void check_values(const Tensor &actual, const std::vector<float> &expected) {
    REQUIRE(actual.data.size() == expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
        INFO("element " << i);
        CHECK(actual.data[i] == Approx(expected[i]).margin(1e-6));
    }
}

} // namespace

TEST_CASE("reference conv: 3x3 ones kernel on a 4x4 ramp, with bias", "[reference]") {
    TestNet net(shape_of({1, 1, 4, 4}));
    net.add("c", OpKind::Conv, shape_of({1, 1, 2, 2}), conv_attrs(1, {3, 3}, true));
    net.set_parameter("c.weight", tensor(shape_of({1, 1, 3, 3}), std::vector<float>(9, 1.0f)));
    net.set_parameter("c.bias", tensor(shape_of({1}), {1.0f}));

    // Window (0,0) sums 0+1+2+4+5+6+8+9+10 = 45; one column right adds 9,
    // one row down adds 36.
    Tensor out = net.run(ramp(shape_of({1, 1, 4, 4})));
    CHECK(out.shape == shape_of({1, 1, 2, 2}));
    check_values(out, {46, 55, 82, 91});
}

TEST_CASE("reference conv: zero padding", "[reference]") {
    TestNet net(shape_of({1, 1, 4, 4}));
    ConvAttrs conv = conv_attrs(1, {3, 3});
    conv.window.pad_begin = {1, 1};
    conv.window.pad_end = {1, 1};
    net.add("c", OpKind::Conv, shape_of({1, 1, 4, 4}), conv);
    net.set_parameter("c.weight", tensor(shape_of({1, 1, 3, 3}), std::vector<float>(9, 1.0f)));

    Tensor out = net.run(ramp(shape_of({1, 1, 4, 4})));
    // Corner (0,0) sees 0+1+4+5; edge (0,1) sees 0+1+2+4+5+6; centre (1,1)
    // sees the full 3x3 window 45; corner (3,3) sees 10+11+14+15.
    CHECK(out.data[0] == 10.0f);
    CHECK(out.data[1] == 18.0f);
    CHECK(out.data[5] == 45.0f);
    CHECK(out.data[15] == 50.0f);
}

TEST_CASE("reference conv: dilation and stride", "[reference]") {
    ConvAttrs conv = conv_attrs(1, {2, 2});
    conv.window.dilation = {2, 2};

    SECTION("dilation 2, stride 1") {
        TestNet net(shape_of({1, 1, 5, 5}));
        net.add("c", OpKind::Conv, shape_of({1, 1, 3, 3}), conv);
        net.set_parameter("c.weight", tensor(shape_of({1, 1, 2, 2}), {1, 1, 1, 1}));
        Tensor out = net.run(ramp(shape_of({1, 1, 5, 5})));
        // (0,0) reads x[0,0] + x[0,2] + x[2,0] + x[2,2] = 0 + 2 + 10 + 12.
        CHECK(out.data[0] == 24.0f);
        CHECK(out.data[8] == 24.0f + 4 * 12.0f);
    }
    SECTION("dilation 2, stride 2") {
        conv.window.stride = {2, 2};
        TestNet net(shape_of({1, 1, 5, 5}));
        net.add("c", OpKind::Conv, shape_of({1, 1, 2, 2}), conv);
        net.set_parameter("c.weight", tensor(shape_of({1, 1, 2, 2}), {1, 2, 3, 4}));
        Tensor out = net.run(ramp(shape_of({1, 1, 5, 5})));
        // (1,1) starts at x[2,2]: 12*1 + 14*2 + 22*3 + 24*4.
        check_values(out, {0 + 2 * 2 + 10 * 3 + 12 * 4, 2 + 4 * 2 + 12 * 3 + 14 * 4,
                           10 + 12 * 2 + 20 * 3 + 22 * 4, 12 + 14 * 2 + 22 * 3 + 24 * 4});
    }
}

TEST_CASE("reference conv: asymmetric padding", "[reference]") {
    TestNet net(shape_of({1, 1, 1, 3}));
    ConvAttrs conv = conv_attrs(1, {1, 2});
    conv.window.pad_begin = {0, 1};
    net.add("c", OpKind::Conv, shape_of({1, 1, 1, 3}), conv);
    net.set_parameter("c.weight", tensor(shape_of({1, 1, 1, 2}), {1, 10}));

    // Input [1, 2, 3] padded to [0, 1, 2, 3]; windows (0,1), (1,2), (2,3).
    Tensor out = net.run(tensor(shape_of({1, 1, 1, 3}), {1, 2, 3}));
    check_values(out, {10, 21, 32});
}

TEST_CASE("reference conv: groups keep channels apart", "[reference]") {
    TestNet net(shape_of({1, 4, 1, 1}));
    ConvAttrs conv = conv_attrs(2, {1, 1});
    conv.groups = 2;
    net.add("c", OpKind::Conv, shape_of({1, 2, 1, 1}), conv);
    // OIHW with I = 4 / 2: output 0 reads channels 0-1, output 1 channels 2-3.
    net.set_parameter("c.weight", tensor(shape_of({2, 2, 1, 1}), {1, 10, 100, 1000}));

    Tensor out = net.run(tensor(shape_of({1, 4, 1, 1}), {1, 2, 3, 4}));
    check_values(out, {1 + 20, 300 + 4000});
}

TEST_CASE("reference conv: depthwise with multiplier 2", "[reference]") {
    TestNet net(shape_of({1, 2, 1, 1}));
    ConvAttrs conv = conv_attrs(4, {1, 1});
    conv.groups = 2;
    net.add("c", OpKind::Conv, shape_of({1, 4, 1, 1}), conv);
    net.set_parameter("c.weight", tensor(shape_of({4, 1, 1, 1}), {1, 2, 3, 4}));

    Tensor out = net.run(tensor(shape_of({1, 2, 1, 1}), {10, 100}));
    check_values(out, {10, 20, 300, 400});
}

TEST_CASE("reference maxpool: padding acts as minus infinity", "[reference]") {
    TestNet net(shape_of({1, 1, 2, 2}));
    net.add("p", OpKind::MaxPool, shape_of({1, 1, 2, 2}), pool_attrs({3, 3}, {1, 1}, {1, 1}));
    // Every window covers the whole input; zero padding would win instead.
    Tensor out = net.run(tensor(shape_of({1, 1, 2, 2}), {-1, -2, -3, -4}));
    check_values(out, {-1, -1, -1, -1});
}

TEST_CASE("reference maxpool: ceil mode and dilation", "[reference]") {
    SECTION("ceil mode keeps the partial last window") {
        TestNet net(shape_of({1, 1, 5, 5}));
        net.add("p", OpKind::MaxPool, shape_of({1, 1, 3, 3}),
                pool_attrs({2, 2}, {2, 2}, {0, 0}, true));
        Tensor out = net.run(ramp(shape_of({1, 1, 5, 5})));
        check_values(out, {6, 8, 9, 16, 18, 19, 21, 23, 24});
    }
    SECTION("dilation 2") {
        PoolAttrs pool = pool_attrs({2, 2}, {1, 1}, {0, 0});
        pool.window.dilation = {2, 2};
        TestNet net(shape_of({1, 1, 3, 3}));
        net.add("p", OpKind::MaxPool, shape_of({1, 1, 1, 1}), pool);
        // The window reads only the corners: 9, 1, 1, 1 (the 100 is skipped).
        Tensor out = net.run(tensor(shape_of({1, 1, 3, 3}), {9, 0, 1, 0, 100, 0, 1, 0, 1}));
        check_values(out, {9});
    }
}

TEST_CASE("reference avgpool: ceil mode divisors match PyTorch", "[reference]") {
    SECTION("no padding: a clipped last window divides by what it covers") {
        TestNet net(shape_of({1, 1, 5, 5}));
        net.add("p", OpKind::AvgPool, shape_of({1, 1, 3, 3}),
                pool_attrs({2, 2}, {2, 2}, {0, 0}, true));
        Tensor out = net.run(ramp(shape_of({1, 1, 5, 5})));
        check_values(out, {3, 5, 6.5f, 13, 15, 16.5f, 20.5f, 22.5f, 24});
    }
    SECTION("padding, count_include_pad: the overhang past the padding is not counted") {
        TestNet net(shape_of({1, 1, 4, 4}));
        net.add("p", OpKind::AvgPool, shape_of({1, 1, 3, 3}),
                pool_attrs({3, 3}, {2, 2}, {1, 1}, true));
        Tensor out = net.run(ramp(shape_of({1, 1, 4, 4})));
        // (0,0): 10 / 9; (2,2): only x[3,3] = 15 of a 2x2 padded area.
        check_values(out, {10.0f / 9, 24.0f / 9, 10.0f / 6, 51.0f / 9, 10, 33.0f / 6, 25.0f / 6,
                           42.0f / 6, 3.75f});
    }
    SECTION("padding, count_include_pad false") {
        TestNet net(shape_of({1, 1, 4, 4}));
        PoolAttrs pool = pool_attrs({3, 3}, {2, 2}, {1, 1}, true);
        pool.count_include_pad = false;
        net.add("p", OpKind::AvgPool, shape_of({1, 1, 3, 3}), pool);
        Tensor out = net.run(ramp(shape_of({1, 1, 4, 4})));
        check_values(out, {2.5f, 4, 5, 8.5f, 10, 11, 12.5f, 14, 15});
    }
}

TEST_CASE("reference global pooling", "[reference]") {
    Tensor input = tensor(shape_of({1, 2, 2, 2}), {1, 2, 3, 6, -1, -2, -3, -4});
    SECTION("average") {
        TestNet net(shape_of({1, 2, 2, 2}));
        net.add("g", OpKind::GlobalAvgPool, shape_of({1, 2, 1, 1}));
        check_values(net.run(input), {3, -2.5f});
    }
    SECTION("max") {
        TestNet net(shape_of({1, 2, 2, 2}));
        net.add("g", OpKind::GlobalMaxPool, shape_of({1, 2, 1, 1}));
        check_values(net.run(input), {6, -1});
    }
}

TEST_CASE("reference batchnorm: per-channel statistics", "[reference]") {
    TestNet net(shape_of({1, 2, 1, 2}));
    net.add("bn", OpKind::BatchNorm, shape_of({1, 2, 1, 2}), BatchNormAttrs{0.0});
    net.set_parameter("bn.weight", tensor(shape_of({2}), {2, 1}));
    net.set_parameter("bn.bias", tensor(shape_of({2}), {1, 0}));
    net.set_parameter("bn.running_mean", tensor(shape_of({2}), {1, 10}));
    net.set_parameter("bn.running_var", tensor(shape_of({2}), {4, 0.25f}));

    // Channel 0: (x - 1) / 2 * 2 + 1; channel 1: (x - 10) / 0.5.
    Tensor out = net.run(tensor(shape_of({1, 2, 1, 2}), {3, 5, 11, 9}));
    check_values(out, {3, 5, 2, -2});
}

TEST_CASE("reference activations", "[reference]") {
    std::vector<float> x = {-4, -3, -1, 0, 1, 3, 7};
    Tensor input = tensor(shape_of({1, 7, 1, 1}), x);
    auto run = [&](OpKind op, Attributes attrs = {}) {
        TestNet net(shape_of({1, 7, 1, 1}));
        net.add("a", op, shape_of({1, 7, 1, 1}), std::move(attrs));
        return net.run(input);
    };

    check_values(run(OpKind::Relu), {0, 0, 0, 0, 1, 3, 7});
    check_values(run(OpKind::Relu6), {0, 0, 0, 0, 1, 3, 6});
    check_values(run(OpKind::LeakyRelu, LeakyReluAttrs{0.5}), {-2, -1.5f, -0.5f, 0, 1, 3, 7});
    check_values(run(OpKind::HardSwish), {0, 0, -1.0f / 3, 0, 4.0f / 6, 3, 7});
    check_values(run(OpKind::Dropout, DropoutAttrs{0.5}), x);
    check_values(run(OpKind::Identity), x);

    Tensor sigmoid = run(OpKind::Sigmoid);
    for (size_t i = 0; i < x.size(); ++i) {
        CHECK(sigmoid.data[i] == Approx(1.0 / (1.0 + std::exp(-double(x[i])))));
    }
    CHECK(sigmoid.data[3] == 0.5f);
}

TEST_CASE("reference flatten and linear", "[reference]") {
    TestNet net(shape_of({1, 2, 1, 2}));
    net.add("f", OpKind::Flatten, shape_of({1, 4}));
    net.add("fc", OpKind::Linear, shape_of({1, 2}), LinearAttrs{2, true});
    net.set_parameter("fc.weight", tensor(shape_of({2, 4}), {1, 0, 0, 0, 1, 2, 3, 4}));
    net.set_parameter("fc.bias", tensor(shape_of({2}), {0.5f, -1}));

    // y = x W^T + b with x = [1, 2, 3, 4] in NCHW order.
    Tensor out = net.run(tensor(shape_of({1, 2, 1, 2}), {1, 2, 3, 4}));
    CHECK(out.shape == shape_of({1, 2}));
    check_values(out, {1.5f, 1 + 4 + 9 + 16 - 1});
}

TEST_CASE("reference linear without bias", "[reference]") {
    TestNet net(shape_of({1, 3}));
    net.add("fc", OpKind::Linear, shape_of({1, 1}), LinearAttrs{1, false});
    net.set_parameter("fc.weight", tensor(shape_of({1, 3}), {1, -1, 2}));
    check_values(net.run(tensor(shape_of({1, 3}), {5, 3, 1})), {4});
}

TEST_CASE("reference add, concat and slice", "[reference]") {
    TestNet net(shape_of({1, 4, 1, 1}));
    NodeId first = net.add("s0", OpKind::Slice, {0}, shape_of({1, 2, 1, 1}), SliceAttrs{0, 2});
    NodeId second = net.add("s1", OpKind::Slice, {0}, shape_of({1, 2, 1, 1}), SliceAttrs{1, 2});
    NodeId sum = net.add("sum", OpKind::Add, {first, second, first}, shape_of({1, 2, 1, 1}));
    net.add("cat", OpKind::Concat, {second, sum, 0}, shape_of({1, 8, 1, 1}));

    // s0 = [1, 2], s1 = [30, 40], sum = s0 + s1 + s0 = [32, 44].
    Tensor out = net.run(tensor(shape_of({1, 4, 1, 1}), {1, 2, 30, 40}));
    check_values(out, {30, 40, 32, 44, 1, 2, 30, 40});
}

TEST_CASE("reference concat of NF vectors", "[reference]") {
    TestNet net(shape_of({1, 2}));
    NodeId relu = net.add("r", OpKind::Relu, shape_of({1, 2}));
    net.add("cat", OpKind::Concat, {0, relu}, shape_of({1, 4}));
    check_values(net.run(tensor(shape_of({1, 2}), {-1, 2})), {-1, 2, 0, 2});
}

TEST_CASE("reference concat keeps each channel's plane", "[reference]") {
    TestNet net(shape_of({1, 1, 2, 2}));
    NodeId relu = net.add("r", OpKind::Relu, shape_of({1, 1, 2, 2}));
    net.add("cat", OpKind::Concat, {relu, 0}, shape_of({1, 2, 2, 2}));
    check_values(net.run(tensor(shape_of({1, 1, 2, 2}), {-1, 2, -3, 4})),
                 {0, 2, 0, 4, -1, 2, -3, 4});
}

TEST_CASE("reference shuffle: PyTorch's channel_shuffle permutation", "[reference]") {
    Tensor input = ramp(shape_of({1, 6, 1, 1}));
    SECTION("2 groups") {
        TestNet net(shape_of({1, 6, 1, 1}));
        net.add("sh", OpKind::Shuffle, shape_of({1, 6, 1, 1}), ShuffleAttrs{2});
        check_values(net.run(input), {0, 3, 1, 4, 2, 5});
    }
    SECTION("3 groups") {
        TestNet net(shape_of({1, 6, 1, 1}));
        net.add("sh", OpKind::Shuffle, shape_of({1, 6, 1, 1}), ShuffleAttrs{3});
        check_values(net.run(input), {0, 2, 4, 1, 3, 5});
    }
    SECTION("whole planes move") {
        TestNet net(shape_of({1, 2, 1, 2}));
        net.add("sh", OpKind::Shuffle, shape_of({1, 2, 1, 2}), ShuffleAttrs{2});
        check_values(net.run(ramp(shape_of({1, 2, 1, 2}))), {0, 1, 2, 3});
    }
}

TEST_CASE("reference softmax: over channels, stable for large values", "[reference]") {
    TestNet net(shape_of({1, 3, 1, 2}));
    net.add("sm", OpKind::Softmax, shape_of({1, 3, 1, 2}));
    Tensor out = net.run(tensor(shape_of({1, 3, 1, 2}), {1000, 0, 1001, 0, 1002, 0}));

    double e = std::exp(1.0);
    double z = 1 + e + e * e;
    check_values(out, {float(1 / z), 1.0f / 3, float(e / z), 1.0f / 3, float(e * e / z), 1.0f / 3});
    for (int i = 0; i < 2; ++i) {
        CHECK(out.data[i] + out.data[2 + i] + out.data[4 + i] == Approx(1.0));
    }
}

TEST_CASE("reference lrn: an even window is centred as PyTorch pads it", "[reference]") {
    TestNet net(shape_of({1, 3, 1, 1}));
    // size 2: channel c sums squares over [c - 1, c].
    net.add("n", OpKind::Lrn, shape_of({1, 3, 1, 1}), LrnAttrs{2, 1.0, 1.0, 1.0});
    Tensor out = net.run(tensor(shape_of({1, 3, 1, 1}), {1, 2, 3}));
    check_values(out, {1 / 1.5f, 2 / 3.5f, 3 / 7.5f});
}

TEST_CASE("reference lrn: AlexNet's window of 5", "[reference]") {
    TestNet net(shape_of({1, 4, 1, 1}));
    net.add("n", OpKind::Lrn, shape_of({1, 4, 1, 1}), LrnAttrs{5, 1e-4, 0.75, 2.0});
    Tensor out = net.run(tensor(shape_of({1, 4, 1, 1}), {1, 2, 3, 4}));
    // Channel 0 sees channels 0-2, channel 3 sees channels 1-3.
    CHECK(out.data[0] == Approx(1 / std::pow(2 + 1e-4 / 5 * 14, 0.75)));
    CHECK(out.data[3] == Approx(4 / std::pow(2 + 1e-4 / 5 * 29, 0.75)));
}

TEST_CASE("reference: a diamond graph frees nothing it still needs", "[reference]") {
    TestNet net(shape_of({1, 1, 1, 2}));
    NodeId a = net.add("a", OpKind::Relu, shape_of({1, 1, 1, 2}));
    NodeId dead = net.add("dead", OpKind::Sigmoid, {0}, shape_of({1, 1, 1, 2}));
    NodeId b = net.add("b", OpKind::Relu6, {0}, shape_of({1, 1, 1, 2}));
    net.add("sum", OpKind::Add, {a, b, 0}, shape_of({1, 1, 1, 2}));
    (void)dead;
    check_values(net.run(tensor(shape_of({1, 1, 1, 2}), {-1, 8})), {-1, 8 + 6 + 8});
}

TEST_CASE("reference: broken invariants are internal errors", "[reference]") {
    TestNet net(shape_of({1, 1, 4, 4}));
    net.add("c", OpKind::Conv, shape_of({1, 1, 2, 2}), conv_attrs(1, {3, 3}));
    Tensor input = ramp(shape_of({1, 1, 4, 4}));

    SECTION("a parameter of the wrong shape") {
        net.set_parameter("c.weight", tensor(shape_of({1, 1, 1, 9}), std::vector<float>(9, 1)));
        CHECK_THROWS_AS(net.run(input), InternalError);
    }
    SECTION("an inferred shape that disagrees with the window") {
        net.set_parameter("c.weight", tensor(shape_of({1, 1, 3, 3}), std::vector<float>(9, 1)));
        net.graph().nodes[1].shape = shape_of({1, 1, 3, 3});
        CHECK_THROWS_AS(net.run(input), InternalError);
    }
    SECTION("an input of the wrong shape") {
        net.set_parameter("c.weight", tensor(shape_of({1, 1, 3, 3}), std::vector<float>(9, 1)));
        CHECK_THROWS_AS(net.run(ramp(shape_of({1, 1, 4, 5}))), InternalError);
    }
    SECTION("a missing parameter is the weight source's error") {
        CHECK_THROWS_AS(net.run(input), UserError);
    }
}
