// Every operator lowered to Halide, JIT-compiled and run, against the
// reference interpreter on the same small network and weights; and every
// target family compiled to a module.
//
// Shapes are small and odd (7 and 9 wide, channel counts that are not
// multiples of the vector width) so that every schedule's tails run.
//
// The reference is NCHW; kernels read and write channels-innermost maps
// (lower_node.h). Inputs are converted before they are bound, outputs back
// before they are compared, and weights go through the kernel's packers.
#include "frontend.h"
#include "lower/lower_node.h"
#include "passes/plan_memory.h"
#include "reference_interpreter.h"
#include "schedules/cpu_schedules.h"
#include "temp_dir.h"
#include "weights.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

using namespace strata;

namespace {

// Deterministic values in [-scale, scale): splitmix64.
class Random {
  public:
    explicit Random(uint64_t seed) : state_(seed) {}
    float next(float scale) {
        state_ += 0x9e3779b97f4a7c15ULL;
        uint64_t z = state_;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        return scale * (static_cast<float>(z >> 40) / static_cast<float>(1 << 23) - 1.0f);
    }

  private:
    uint64_t state_;
};

Tensor random_tensor(const Shape &shape, Random &random, float scale = 4.0f) {
    Tensor tensor(shape);
    for (float &v : tensor.data) {
        v = random.next(scale);
    }
    return tensor;
}

// initialize_weights leaves biases at 0 and batch norm at the identity,
// which would hide a kernel that ignores them: those are redrawn here
// (variances kept positive).
WeightStore test_weights(const Graph &graph) {
    WeightStore initial = initialize_weights(graph);
    WeightStore store("test weights");
    Random random(7);
    for (const Node &node : graph.nodes) {
        for (const ParameterSpec &spec : parameters_of(graph, node)) {
            const TensorView *view = initial.find(parameter_name(node, spec));
            REQUIRE(view != nullptr);
            Tensor tensor(view->shape);
            std::copy(view->data, view->data + tensor.data.size(), tensor.data.begin());
            // He-initialised conv and linear kernels are kept as they are.
            bool kernel = spec.role == ParameterRole::Weight && node.op != OpKind::BatchNorm;
            for (float &v : tensor.data) {
                if (spec.suffix == "running_var") {
                    v = 0.5f + std::abs(random.next(1.5f));
                } else if (!kernel) {
                    v = random.next(1.0f);
                }
            }
            store.add(parameter_name(node, spec), std::move(tensor));
        }
    }
    return store;
}

WeightSource source_of(const WeightStore &store) {
    return [&store](const std::string &name) {
        const TensorView *view = store.find(name);
        REQUIRE(view != nullptr);
        return *view;
    };
}

// The reference's value of node `id` on `input`.
Tensor evaluate(Graph graph, const WeightStore &weights, const Tensor &input, NodeId id) {
    graph.output = id;
    return run_reference(graph, source_of(weights), input);
}

Halide::Buffer<float> to_buffer(const float *data, const std::vector<int> &extents) {
    Halide::Buffer<float> buffer(extents);
    std::memcpy(buffer.data(), data, buffer.size_in_bytes());
    return buffer;
}

// A reference tensor as the buffer a kernel reads: a feature map NCHW ->
// (c, x, y), channels dense; an NF vector as it is.
Halide::Buffer<float> to_internal(const Tensor &tensor) {
    Halide::Buffer<float> buffer(halide_extents(tensor.shape));
    if (tensor.shape.rank() != 4) {
        std::memcpy(buffer.data(), tensor.data.data(), buffer.size_in_bytes());
        return buffer;
    }
    const int64_t c_count = tensor.shape.dims[1], h = tensor.shape.dims[2],
                  w = tensor.shape.dims[3];
    for (int64_t c = 0; c < c_count; ++c) {
        for (int64_t y = 0; y < h; ++y) {
            for (int64_t x = 0; x < w; ++x) {
                buffer(int(c), int(x), int(y)) = tensor.data[size_t((c * h + y) * w + x)];
            }
        }
    }
    return buffer;
}

// A kernel's output of `shape` back in the reference's NCHW order.
std::vector<float> from_internal(const Halide::Buffer<float> &buffer, const Shape &shape) {
    if (shape.rank() != 4) {
        return std::vector<float>(buffer.data(), buffer.data() + buffer.number_of_elements());
    }
    const int64_t c_count = shape.dims[1], h = shape.dims[2], w = shape.dims[3];
    std::vector<float> values(size_t(c_count * h * w));
    for (int64_t c = 0; c < c_count; ++c) {
        for (int64_t y = 0; y < h; ++y) {
            for (int64_t x = 0; x < w; ++x) {
                values[size_t((c * h + y) * w + x)] = buffer(int(c), int(x), int(y));
            }
        }
    }
    return values;
}

double tolerance(const std::vector<float> &expected) {
    double limit = 0.0;
    for (float v : expected) {
        limit = std::max(limit, std::abs(double(v)));
    }
    return 1e-4 * std::max(1.0, limit);
}

double worst_difference(const std::vector<float> &actual, const std::vector<float> &expected) {
    REQUIRE(actual.size() == expected.size());
    double worst = 0.0;
    for (size_t i = 0; i < expected.size(); ++i) {
        worst = std::max(worst, std::abs(double(actual[i]) - expected[i]));
    }
    return worst;
}

std::vector<Halide::Target> jit_targets() {
    // The host (AVX-512 here) and, where the host can run them, AVX2 and
    // SSE4.1: the three take vectors of 16, 8 and 4 floats, and so different
    // tiles and tails.
    Halide::Target host = Halide::get_host_target();
    std::vector<Halide::Target> targets = {host};
    if (host.arch == Halide::Target::X86 && host.has_feature(Halide::Target::AVX512_Skylake)) {
        targets.push_back(Halide::Target("x86-64-linux-avx-avx2-f16c-fma-sse41"));
    }
    if (host.arch == Halide::Target::X86 && host.has_feature(Halide::Target::SSE41)) {
        targets.push_back(Halide::Target("x86-64-linux-sse41"));
    }
    return targets;
}

// A buffer of `id`'s output as the compiled network stores it (plan_memory.h)
// and its readers see it: a map whose pixels lie further apart than its
// channel count is a crop of a wider one; a map with a zero border covers
// the border too, at negative x and y, and is zero there.
Halide::Buffer<float> stored_like(const Graph &graph, NodeId id) {
    const Shape &shape = graph.node(id).shape;
    std::vector<int> extents = halide_extents(shape);
    std::vector<int64_t> strides = storage_strides(graph, id);
    if (shape.rank() != 4) {
        return Halide::Buffer<float>(extents);
    }
    const Border border = storage_border(graph, id);
    const int bx = static_cast<int>(border.x), by = static_cast<int>(border.y);
    Halide::Buffer<float> wider(
        std::vector<int>{int(strides[1]), extents[1] + 2 * bx, extents[2] + 2 * by});
    wider.fill(0.0f);
    wider.translate({0, -bx, -by});
    return Halide::Buffer<float>(wider.get()->cropped(0, 0, extents[0]));
}

// The part of a buffer from stored_like that the kernel computing `id`
// writes: its map without the border.
Halide::Buffer<float> written_part(const Graph &graph, NodeId id, Halide::Buffer<float> stored) {
    if (graph.node(id).shape.rank() != 4) {
        return stored;
    }
    const std::vector<int> extents = halide_extents(graph.node(id).shape);
    return Halide::Buffer<float>(
        stored.get()->cropped({{0, extents[0]}, {0, extents[1]}, {0, extents[2]}}));
}

// Lowers `node` for every JIT target, runs it on the reference's values of
// its inputs and compares with `expected`. Inputs are stored as in the
// compiled network; those written in place into `node` (a concat) are put
// in its output buffer before it runs, as their producers would.
void check_kernel(const Graph &graph, const WeightStore &weights, const Tensor &input,
                  const Node &node, const Tensor &expected) {
    std::vector<Halide::Buffer<float>> inputs;
    for (NodeId id : node.inputs) {
        Halide::Buffer<float> stored = stored_like(graph, id);
        stored.copy_from(to_internal(evaluate(graph, weights, input, id)));
        inputs.push_back(stored);
    }
    std::vector<TensorView> pytorch_weights;
    for (const ParameterSpec &spec : parameters_of(graph, node)) {
        const TensorView *view = weights.find(parameter_name(node, spec));
        REQUIRE(view != nullptr);
        pytorch_weights.push_back(*view);
    }
    const double limit = tolerance(expected.data);

    for (const Halide::Target &target : jit_targets()) {
        INFO("target " << target.to_string());
        LoweredKernel kernel = lower_node(graph, node, target);
        INFO("kernel " << kernel.key);
        REQUIRE(kernel.weight_packers.size() == pytorch_weights.size());
        std::vector<Halide::Buffer<float>> buffers = inputs;
        for (size_t i = 0; i < pytorch_weights.size(); ++i) {
            PackedWeight packed = kernel.weight_packers[i](pytorch_weights[i]);
            int64_t elements = 1;
            for (int e : packed.extents) {
                elements *= e;
            }
            REQUIRE(static_cast<size_t>(elements) == packed.data.size());
            buffers.push_back(to_buffer(packed.data.data(), packed.extents));
        }
        REQUIRE(kernel.params.size() == buffers.size());
        REQUIRE(kernel.arguments.size() == buffers.size());
        Halide::ParamMap params;
        for (size_t i = 0; i < buffers.size(); ++i) {
            params.set(kernel.params[i], buffers[i]);
        }
        Halide::Buffer<float> output = written_part(graph, node.id, stored_like(graph, node.id));
        int begin = 0;
        for (size_t i = 0; i < node.inputs.size(); ++i) {
            const int channels = inputs[i].dim(0).extent();
            if (written_in_place(graph, node.inputs[i]) == node.id) {
                Halide::Buffer<float> place(
                    output.get()->cropped(0, begin, channels).translated(0, -begin));
                place.copy_from(inputs[i]);
                params.set(kernel.params[i], place);
            }
            begin += channels;
        }
        kernel.pipeline.realize(output, target, params);
        CHECK(worst_difference(from_internal(output, node.shape), expected.data) <= limit);
    }
}

const Node &node_called(const Graph &graph, const std::string &name) {
    NodeId id = name.empty() ? graph.output : graph.find(name);
    REQUIRE(id >= 0);
    return graph.node(id);
}

// Lowers node `name` (the output when empty) of the network `text` and
// checks it against the reference.
void check_layer(const std::string &text, const std::string &name = {}) {
    INFO(text);
    Graph graph = load_strata_text("t.strata", text);
    WeightStore weights = test_weights(graph);
    Random random(11);
    Tensor input = random_tensor(graph.input().shape, random);
    const Node &node = node_called(graph, name);
    check_kernel(graph, weights, input, node, evaluate(graph, weights, input, node.id));
}

// Lowers node `name` with `epilogue` fused onto it (and node `residual`
// appended to its inputs when the epilogue has one), and checks it against
// the reference's value of the unfused network's output.
void check_fused(const std::string &text, const std::string &name, Epilogue epilogue,
                 const std::string &residual = {}) {
    INFO(text);
    Graph graph = load_strata_text("t.strata", text);
    WeightStore weights = test_weights(graph);
    Random random(13);
    Tensor input = random_tensor(graph.input().shape, random);
    Node fused = node_called(graph, name);
    fused.epilogue = epilogue;
    if (epilogue.residual) {
        fused.inputs.push_back(node_called(graph, residual).id);
    }
    check_kernel(graph, weights, input, fused, evaluate(graph, weights, input, graph.output));
}

Epilogue epilogue(Activation activation, bool residual = false, double slope = 0.0) {
    Epilogue e;
    e.activation = activation;
    e.residual = residual;
    e.slope = slope;
    return e;
}

// One network per case; the node called `node` (the output when empty) is
// lowered. Widths of 7, 9 and 1, and channel counts off the vector width,
// exercise every tail.
struct LayerCase {
    const char *name;
    const char *text;
    const char *node;
};

const LayerCase kConvCases[] = {
    {"plain", "input 3x9x9\nc: conv 8 3x3 pad=1\n", ""},
    {"strided", "input 4x11x11\nconv 8 3x3 stride=2\n", ""},
    {"padded 5x5", "input 3x10x10\nconv 6 5x5 pad=2\n", ""},
    {"dilated", "input 3x12x12\nconv 4 3x3 dilation=2 pad=2\n", ""},
    {"grouped", "input 8x9x9\nconv 12 3x3 pad=1 groups=4\n", ""},
    {"depthwise", "input 8x10x10\nconv 8 3x3 pad=1 groups=8 bias=false\n", ""},
    {"depthwise, strided, multiplier 2", "input 4x9x9\nconv 8 3x3 stride=2 pad=1 groups=4\n", ""},
    {"depthwise on a 7x7 map", "input 16x7x7\nconv 16 3x3 pad=1 groups=16\n", ""},
    {"depthwise on a 14x13 map, tiles of 7", "input 20x14x13\nconv 20 3x3 pad=1 groups=20\n", ""},
    {"depthwise, tiles of two rows", "input 24x12x10\nconv 24 3x3 pad=1 groups=24\n", ""},
    {"depthwise, strided, tiles of two rows",
     "input 24x20x18\nconv 24 3x3 stride=2 pad=1 groups=24\n", ""},
    {"1x1", "input 16x9x9\nconv 24 1x1\n", ""},
    {"1x1 on a 7x7 map", "input 16x7x7\nconv 20 1x1\n", ""},
    {"1x1, an odd number of channel blocks", "input 8x9x9\nconv 40 1x1\n", ""},
    {"1x1 with weights past the cache, prefetched", "input 512x7x5\nconv 600 1x1\n", ""},
    {"3x3, channels a whole number of blocks", "input 16x9x9\nconv 64 3x3 pad=1\n", ""},
    {"7x7 stride 2", "input 3x23x23\nconv 8 7x7 stride=2 pad=3\n", ""},
    {"7x7 map", "input 32x7x7\nconv 20 3x3 pad=1\n", ""},
    {"wide map", "input 4x37x5\nconv 12 3x3 pad=1\n", ""},
    {"1x1 map", "input 16x1x1\nconv 8 3x3 pad=1\n", ""},
    {"3x3 map, strided", "input 8x3x3\nconv 8 3x3 stride=2 pad=1\n", ""},
    // An input stored without a zero border (a view of some channels): a
    // padded copy per band, or for Winograd a select on each load.
    {"3x3 reading a channel slice", "input 16x9x9\ns: split 2\nconv 8 3x3 pad=1 <- s[1]\n", ""},
    {"Winograd reading a channel slice", "input 64x9x9\ns: split 2\nconv 32 3x3 pad=1 <- s[1]\n",
     ""},
    // A map written inside the zero border its reader needs.
    {"1x1 writing inside a border", "input 8x9x7\na: conv 16 1x1\nconv 16 5x5 pad=2\n", "a"},
    // The cost model (see the Winograd test case below) picks these forms.
    {"Winograd F(4, 3), a map not a whole number of tiles", "input 64x19x21\nconv 64 3x3 pad=1\n",
     ""},
    {"Winograd F(2, 3), channels off the vector", "input 32x7x9\nconv 24 3x3 pad=1\n", ""},
    {"Winograd F(2, 3), odd map, odd blocks", "input 48x11x13\nconv 40 3x3 pad=1\n", ""},
    {"Winograd F(2, 3) without padding", "input 32x9x11\nconv 24 3x3\n", ""},
    {"Winograd F(2, 3), input channels off the vector", "input 20x9x9\nconv 16 3x3 pad=1\n", ""},
    {"Winograd F(4, 3), rows in chunks of tiles", "input 64x110x9\nconv 64 3x3 pad=1\n", ""},
    {"Winograd F(2, 3) staged over the whole map", "input 256x13x14\nconv 256 3x3 pad=1\n", ""},
};

const LayerCase kPoolCases[] = {
    {"max", "input 4x9x9\nmaxpool 3x3 stride=2\n", ""},
    {"max, padded, ceil mode", "input 4x10x10\nmaxpool 3x3 stride=2 pad=1 ceil=true\n", ""},
    {"max, dilated", "input 3x9x9\nmaxpool 2x2 stride=1 dilation=2\n", ""},
    {"average, padded", "input 4x9x9\navgpool 3x3 stride=2 pad=1\n", ""},
    {"average, ceil mode, count_include_pad=false",
     "input 4x10x10\navgpool 3x3 stride=2 pad=1 ceil=true count_include_pad=false\n", ""},
    {"average, ceil mode past the input", "input 4x7x7\navgpool 2x2 stride=2 ceil=true\n", ""},
    {"global average", "input 20x7x7\nglobal_avgpool\n", ""},
    {"global max", "input 5x3x3\nglobal_maxpool\n", ""},
};

const LayerCase kElementwiseCases[] = {
    {"batchnorm", "input 5x7x9\nbatchnorm eps=0.001\n", ""},
    {"batchnorm of a vector", "input 12\nbatchnorm\n", ""},
    {"relu", "input 5x7x9\nrelu\n", ""},
    {"relu6", "input 5x7x9\nrelu6\n", ""},
    {"leaky_relu", "input 5x7x9\nleaky_relu slope=0.2\n", ""},
    {"sigmoid", "input 5x7x9\nsigmoid\n", ""},
    {"hardswish", "input 5x7x9\nhardswish\n", ""},
    {"dropout", "input 5x7x9\ndropout\n", ""},
    {"identity", "input 5x7x9\nidentity\n", ""},
    {"relu of a vector", "input 37\nrelu\n", ""},
    {"relu of a 1x1 map", "input 24x1x1\nrelu\n", ""},
    {"flatten", "input 3x4x5\nflatten\n", ""},
    {"add", "input 4x6x6\na: relu\nb: sigmoid <- input\nadd <- a, b, input\n", ""},
    {"concat", "input 4x5x5\na: relu\nb: conv 6 1x1 <- input\nconcat <- a, b, input\n", ""},
    {"concat with whole vectors and tails",
     "input 21x4x3\na: relu\nb: conv 37 1x1 <- input\nconcat <- a, b, a\n", ""},
    {"concat of vectors", "input 10\na: relu\nb: sigmoid <- input\nconcat <- a, b\n", ""},
    {"slice", "input 8x5x5\ns: split 2\nrelu <- s[1]\n", "s.1"},
    {"shuffle", "input 12x5x5\nshuffle 3\n", ""},
};

const LayerCase kOtherCases[] = {
    {"conv written in place", "input 8x6x6\na: conv 16 1x1\nconcat <- a, input\n", "a"},
    {"Winograd conv written in place", "input 32x9x9\na: conv 24 3x3 pad=1\nconcat <- a, input\n",
     "a"},
    {"linear", "input 3x4x5\nflatten\nfc: linear 10\n", ""},
    {"linear without bias", "input 64\nfc: linear 7 bias=false\n", ""},
    {"softmax over channels", "input 10x3x4\nsoftmax\n", ""},
    {"softmax of a vector", "input 20\nsoftmax\n", ""},
    {"lrn", "input 12x5x6\nlrn size=5 alpha=0.1 beta=0.75 k=2\n", ""},
};

template <size_t N> void check_cases(const LayerCase (&cases)[N]) {
    for (const LayerCase &layer : cases) {
        DYNAMIC_SECTION(layer.name) {
            check_layer(layer.text, layer.node);
        }
    }
}

// Lowers every case for `target` down to a Halide module, without running it.
template <size_t N> void lower_cases(const LayerCase (&cases)[N], const Halide::Target &target) {
    for (const LayerCase &layer : cases) {
        INFO(target.to_string() << ": " << layer.name);
        Graph graph = load_strata_text("t.strata", layer.text);
        LoweredKernel kernel = lower_node(graph, node_called(graph, layer.node), target);
        CHECK_NOTHROW(kernel.pipeline.compile_to_module(kernel.arguments, "k", target));
    }
}

} // namespace

TEST_CASE("lowered convolutions match the reference", "[lower]") {
    check_cases(kConvCases);
}

TEST_CASE("lowered pooling matches the reference", "[lower]") {
    check_cases(kPoolCases);
}

TEST_CASE("lowered element-wise layers match the reference", "[lower]") {
    check_cases(kElementwiseCases);
}

TEST_CASE("lowered linear and normalisation layers match the reference", "[lower]") {
    check_cases(kOtherCases);
}

TEST_CASE("lowered epilogues match the unfused reference", "[lower]") {
    SECTION("conv + relu") {
        check_fused("input 3x9x9\nc: conv 8 3x3 pad=1\nrelu\n", "c", epilogue(Activation::Relu));
    }
    SECTION("conv + residual + relu") {
        check_fused("input 8x9x9\ns: sigmoid\nc: conv 8 3x3 pad=1 <- input\nadd <- c, s\nrelu\n",
                    "c", epilogue(Activation::Relu, true), "s");
    }
    SECTION("Winograd conv + residual + relu") {
        check_fused(
            "input 64x19x21\ns: sigmoid\nc: conv 64 3x3 pad=1 <- input\nadd <- c, s\nrelu\n", "c",
            epilogue(Activation::Relu, true), "s");
    }
    SECTION("linear + relu") {
        check_fused("input 3x4x4\nflatten\nfc: linear 10\nrelu\n", "fc",
                    epilogue(Activation::Relu));
    }
    SECTION("depthwise conv + relu6") {
        check_fused("input 8x7x7\nc: conv 8 3x3 pad=1 groups=8\nrelu6\n", "c",
                    epilogue(Activation::Relu6));
    }
    SECTION("average pool + residual + leaky relu") {
        check_fused("input 4x8x8\nr: relu\np: avgpool 3x3 stride=1 pad=1 <- input\nadd <- p, r\n"
                    "leaky_relu slope=0.1\n",
                    "p", epilogue(Activation::LeakyRelu, true, 0.1), "r");
    }
}

TEST_CASE("kernel keys name what the kernel computes, not the node", "[lower]") {
    Graph graph = load_strata_text("t.strata", "input 8x9x9\na: conv 8 3x3 pad=1\n"
                                               "b: conv 8 3x3 pad=1 <- input\n"
                                               "c: conv 8 1x1 <- input\nadd <- a, b, c\n");
    Halide::Target target("x86-64-linux-avx2-fma");
    std::string a = lower_node(graph, node_called(graph, "a"), target).key;
    CHECK(a == lower_node(graph, node_called(graph, "b"), target).key);
    CHECK(a != lower_node(graph, node_called(graph, "c"), target).key);
    // Writing into a zero border for a padded reader changes the strides.
    Graph bordered =
        load_strata_text("t.strata", "input 8x9x9\na: conv 8 3x3 pad=1\nconv 8 3x3 pad=1\n");
    CHECK(a != lower_node(bordered, node_called(bordered, "a"), target).key);
    CHECK(a != lower_node(graph, node_called(graph, "a"), Halide::Target("arm-64-linux")).key);
    Node fused = node_called(graph, "a");
    fused.epilogue.activation = Activation::Relu;
    CHECK(a != lower_node(graph, fused, target).key);
}

TEST_CASE("3x3 stride-1 convs take the form the cost model finds fastest", "[lower]") {
    // The choices measured fastest on ResNet-18 (cpu_schedules.cpp).
    ConvCpuSchedule avx512 =
        default_conv_cpu_schedule(Halide::Target("x86-64-linux-avx512_skylake"));
    CHECK(choose_winograd_tile(avx512, 64, 64, 56, 56) == 4);
    CHECK(choose_winograd_tile(avx512, 128, 128, 28, 28) == 4);
    CHECK(choose_winograd_tile(avx512, 256, 256, 14, 14) == 2);
    CHECK(choose_winograd_tile(avx512, 512, 512, 7, 7) == 2);
    // VGG-16: too few input channels in the first layer for the transforms
    // to pay; at 112x112, F(4, 3) banded; at 56x56 with 256 channels, its
    // 9.4 MB of weights once, and whole-map buffers within the limit.
    CHECK(choose_winograd_tile(avx512, 3, 64, 224, 224) == 0);
    CHECK(choose_winograd_tile(avx512, 64, 128, 112, 112) == 4);
    CHECK(choose_winograd_tile(avx512, 256, 256, 56, 56) == 4);
    avx512.winograd_staging_bytes = 8 << 20;
    CHECK(choose_winograd_tile(avx512, 256, 256, 56, 56) == 0);
    avx512.winograd_staging_bytes = ConvCpuSchedule().winograd_staging_bytes;
    avx512.winograd_max_tile = 2;
    CHECK(choose_winograd_tile(avx512, 64, 64, 56, 56) == 2);
    avx512.winograd_max_tile = 0;
    CHECK(choose_winograd_tile(avx512, 64, 64, 56, 56) == 0);

    // The lowering follows the model, and strided convs stay direct.
    Graph graph = load_strata_text("t.strata", "input 64x19x21\na: conv 64 3x3 pad=1\n"
                                               "b: conv 24 3x3 stride=2\n");
    Graph small = load_strata_text("t.strata", "input 32x7x9\nc: conv 24 3x3 pad=1\n");
    Halide::Target avx2("x86-64-linux-avx2-fma");
    CHECK_THAT(lower_node(graph, node_called(graph, "a"), avx2).key,
               Catch::Contains("winograd-cpu tile=4"));
    CHECK_THAT(lower_node(graph, node_called(graph, "b"), avx2).key, !Catch::Contains("winograd"));
    CHECK_THAT(lower_node(small, node_called(small, "c"), avx2).key,
               Catch::Contains("winograd-cpu tile=2"));
}

TEST_CASE("kernels compile for every target family", "[lower]") {
    // Lowering alone (compile_to_module) for every target and operator; the
    // conv and pool all the way to object code, through LLVM's AArch64 and
    // NVPTX back ends.
    test::TempDir dir;
    const char *const targets[] = {"x86-64-linux-avx2-fma", "x86-64-linux-avx512_skylake",
                                   "arm-64-linux", "x86-64-linux-cuda"};
    Graph graph = load_strata_text("t.strata", "input 16x14x14\nc: conv 24 3x3 stride=2 pad=1\n"
                                               "p: maxpool 3x3 stride=2 pad=1\n");
    for (const char *target_name : targets) {
        Halide::Target target(target_name);
        for (const char *name : {"c", "p"}) {
            INFO(target_name << ", node " << name);
            LoweredKernel kernel = lower_node(graph, node_called(graph, name), target);
            CHECK_NOTHROW(kernel.pipeline.compile_to_module(kernel.arguments, "k", target));
            if (target.arch == Halide::Target::ARM || target.has_gpu_feature()) {
                std::string object = dir.file(std::string(name) + ".o");
                CHECK_NOTHROW(
                    kernel.pipeline.compile_to_object(object, kernel.arguments, "k", target));
            }
        }
    }
}

TEST_CASE("layout conversions move between NCHW and channels-innermost", "[lower]") {
    // 5 channels and a 7x3 map: neither dimension a multiple of a vector.
    Shape shape{{1, 5, 3, 7}};
    Random random(17);
    Tensor tensor = random_tensor(shape, random);
    Halide::Buffer<float> nchw = to_buffer(tensor.data.data(), nchw_extents(shape));
    Halide::Buffer<float> nhwc = to_internal(tensor);
    for (const Halide::Target &target : jit_targets()) {
        INFO("target " << target.to_string());
        LoweredKernel to = lower_layout_conversion(shape, true, target);
        REQUIRE(to.params.size() == 1);
        REQUIRE(to.weight_packers.empty());
        Halide::ParamMap params;
        params.set(to.params[0], nchw);
        Halide::Buffer<float> converted(halide_extents(shape));
        to.pipeline.realize(converted, target, params);
        CHECK(worst_difference(from_internal(converted, shape), tensor.data) == 0.0);

        LoweredKernel back = lower_layout_conversion(shape, false, target);
        Halide::ParamMap back_params;
        back_params.set(back.params[0], nhwc);
        Halide::Buffer<float> restored(nchw_extents(shape));
        back.pipeline.realize(restored, target, back_params);
        std::vector<float> values(restored.data(), restored.data() + restored.number_of_elements());
        CHECK(worst_difference(values, tensor.data) == 0.0);
        CHECK(to.key != back.key);
    }
}

TEST_CASE("flatten of a map writes PyTorch's NCHW order", "[lower]") {
    // Each element holds its own NCHW index, so the flattened vector must
    // count up from zero whatever layout the kernel read.
    Graph graph = load_strata_text("t.strata", "input 3x4x5\nflatten\n");
    const Shape &shape = graph.input().shape;
    Tensor indices(shape);
    for (size_t i = 0; i < indices.data.size(); ++i) {
        indices.data[i] = static_cast<float>(i);
    }
    Halide::Target target = Halide::get_host_target();
    LoweredKernel kernel = lower_node(graph, graph.output_node(), target);
    Halide::ParamMap params;
    params.set(kernel.params[0], to_internal(indices));
    Halide::Buffer<float> output(halide_extents(graph.output_node().shape));
    kernel.pipeline.realize(output, target, params);
    for (int f = 0; f < output.width(); ++f) {
        INFO("feature " << f);
        CHECK(output(f) == static_cast<float>(f));
    }
}

TEST_CASE("every operator lowers for ARM and CUDA", "[lower]") {
    for (const char *target_name : {"arm-64-linux", "x86-64-linux-cuda"}) {
        Halide::Target target(target_name);
        lower_cases(kConvCases, target);
        lower_cases(kPoolCases, target);
        lower_cases(kElementwiseCases, target);
        lower_cases(kOtherCases, target);
        for (bool to_internal : {true, false}) {
            LoweredKernel kernel =
                lower_layout_conversion(Shape{{1, 5, 3, 7}}, to_internal, target);
            CHECK_NOTHROW(kernel.pipeline.compile_to_module(kernel.arguments, "k", target));
        }
    }
}
