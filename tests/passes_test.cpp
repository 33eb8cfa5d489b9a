// The graph optimisation passes: a golden before/after test per pass in the
// graph's text form, numerical checks that optimised networks compute what
// the originals do, and memory plans checked against simulated lifetimes.
#include "frontend.h"
#include "graph_edit.h"
#include "graph_text.h"
#include "passes/fold_batch_norm.h"
#include "passes/fuse_epilogues.h"
#include "passes/pipeline.h"
#include "passes/plan_memory.h"
#include "passes/remove_noops.h"
#include "reference_interpreter.h"
#include "weights.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace strata;

namespace {

Graph load(const std::string &text) {
    return load_strata_text("t.strata", text);
}

std::string example_path(const std::string &network) {
    return std::string(STRATA_SOURCE_DIR) + "/examples/networks/" + network + ".strata";
}

const std::vector<std::string> kExampleNetworks = {
    "alexnet",  "mobilenet_v1",  "mobilenet_v2",       "resnet18", "resnet34",
    "resnet50", "shufflenet_v1", "shufflenet_v2_x1_0", "vgg16"};

WeightSource source_of(const WeightStore &weights) {
    return [&weights](const std::string &name) {
        const TensorView *view = weights.find(name);
        if (view == nullptr) {
            throw UserError("no tensor '" + name + "'");
        }
        return *view;
    };
}

Tensor random_tensor(const Shape &shape, uint32_t seed, float low, float high) {
    std::mt19937 generator(seed);
    std::uniform_real_distribution<float> uniform(low, high);
    Tensor tensor(shape);
    for (float &value : tensor.data) {
        value = uniform(generator);
    }
    return tensor;
}

// initialize_weights gives identity batch norms and zero biases, which a
// wrong fold would survive: every batch norm statistic and every bias is
// drawn at random here, with variances kept near 1 so activations stay sane.
void randomise_affine_tensors(const Graph &graph, WeightStore &weights, uint32_t seed) {
    for (const Node &node : graph.nodes) {
        for (const ParameterSpec &spec : parameters_of(graph, node)) {
            std::string name = parameter_name(node, spec);
            bool kernel_weight = node.op != OpKind::BatchNorm && spec.suffix == "weight";
            if (kernel_weight) {
                continue;
            }
            bool positive = spec.suffix == "running_var" || spec.suffix == "weight";
            float low = positive ? 0.5f : -0.2f;
            float high = positive ? 1.5f : 0.2f;
            weights.replace(name, random_tensor(spec.shape, seed++, low, high));
        }
    }
}

int count_op(const Graph &graph, OpKind op) {
    return static_cast<int>(std::count_if(graph.nodes.begin(), graph.nodes.end(),
                                          [op](const Node &n) { return n.op == op; }));
}

float max_abs(const Tensor &t) {
    float m = 0.0f;
    for (float v : t.data) {
        m = std::max(m, std::fabs(v));
    }
    return m;
}

float max_abs_difference(const Tensor &a, const Tensor &b) {
    REQUIRE(a.shape == b.shape);
    float m = 0.0f;
    for (size_t i = 0; i < a.data.size(); ++i) {
        m = std::max(m, std::fabs(a.data[i] - b.data[i]));
    }
    return m;
}

// Runs `graph` before and after the whole pipeline, with random statistics so
// that folding changes the weights, and requires the same numbers within
// float rounding. Returns the optimised graph for further checks.
Graph check_optimisation_keeps_results(Graph graph, uint32_t seed) {
    WeightStore weights = initialize_weights(graph);
    randomise_affine_tensors(graph, weights, seed);
    Tensor input = random_tensor(graph.input().shape, seed + 1000, -1.0f, 1.0f);
    Tensor expected = run_reference(graph, source_of(weights), input);

    optimise(graph, weights, OptimiseOptions{});
    Tensor actual = run_reference(graph, source_of(weights), input);
    INFO(graph.name << ": max |out| " << max_abs(expected));
    REQUIRE(max_abs(expected) > 0.0f);
    CHECK(max_abs_difference(expected, actual) <= 1e-5f * max_abs(expected));
    verify_weights(graph, weights);
    return graph;
}

// ---------------------------------------------------------------------------
// Memory plan checks that trust nothing the planner computed but its claims.

struct ByteRange {
    int64_t begin = 0;
    int64_t end = 0;
};

bool overlap(const ByteRange &a, const ByteRange &b) {
    return a.begin < b.end && b.begin < a.end;
}

int64_t aligned(int64_t bytes) {
    return (bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
}

// The node that holds `id`'s bytes: itself, or the base its alias claims.
NodeId holder(const MemoryPlan &plan, NodeId id) {
    const Placement &p = plan.placements[id];
    return p.storage == Storage::Alias ? p.base : id;
}

void check_aliases(const Graph &graph, const MemoryPlan &plan) {
    for (const Node &node : graph.nodes) {
        const Placement &p = plan.placements[node.id];
        const Border border = storage_border(graph, node.id);
        const std::vector<int64_t> &dims = node.shape.dims;
        CHECK(p.bytes == (border.any()
                              ? dims[1] * (dims[3] + 2 * border.x) * (dims[2] + 2 * border.y) * 4
                              : node.shape.elements() * 4));
        if (p.storage != Storage::Alias) {
            continue;
        }
        INFO("alias " << node.name);
        NodeId concat = written_in_place(graph, node.id);
        if (concat >= 0) {
            // Its channels of the concat's buffer, which its inputs are not,
            // but for other inputs written in place (other channels).
            const Node &k = graph.node(concat);
            REQUIRE(k.op == OpKind::Concat);
            CHECK(p.base == concat);
            int64_t begin = 0;
            for (size_t i = 0; k.inputs[i] != node.id; ++i) {
                begin += graph.node(k.inputs[i]).shape.dims[1];
            }
            CHECK(p.offset == begin * 4);
            CHECK(storage_strides(graph, node.id) == storage_strides(graph, concat));
            for (NodeId in : node.inputs) {
                CHECK((holder(plan, in) != concat || written_in_place(graph, in) == concat));
            }
            continue;
        }
        REQUIRE((node.op == OpKind::Flatten || node.op == OpKind::Slice));
        // A view of its input's bytes, wherever those are.
        NodeId src = node.inputs[0];
        const Placement &sp = plan.placements[src];
        int64_t src_offset = sp.storage == Storage::Alias ? sp.offset : 0;
        // A part of a vector is a run of bytes; a part of a map, its
        // channels of every pixel, from its first channel on.
        const bool map = node.shape.rank() == 4;
        int64_t own = 0;
        if (node.op == OpKind::Slice) {
            own = node.attr<SliceAttrs>().index * (map ? node.shape.dims[1] * 4 : p.bytes);
        }
        CHECK(p.base == holder(plan, src));
        CHECK(p.offset == src_offset + own);
        CHECK(plan.placements[p.base].storage != Storage::Alias);
        std::vector<int64_t> strides = storage_strides(graph, node.id);
        const std::vector<int64_t> extents =
            map ? std::vector<int64_t>{node.shape.dims[1], node.shape.dims[3], node.shape.dims[2]}
                : std::vector<int64_t>{node.shape.dims[1]};
        int64_t last = 0; // the element furthest from the first
        for (size_t d = 0; d < strides.size(); ++d) {
            last += (extents[d] - 1) * strides[d];
        }
        CHECK(p.offset + (last + 1) * 4 <= plan.placements[p.base].bytes);
        if (map) {
            CHECK(strides == storage_strides(graph, p.base));
        }
    }
}

void check_arena_bounds(const Graph &graph, const MemoryPlan &plan) {
    int64_t unshared = 0;
    for (const Node &node : graph.nodes) {
        const Placement &p = plan.placements[node.id];
        if (p.storage == Storage::Arena) {
            CHECK(p.offset % kArenaAlignment == 0);
            CHECK(p.offset + p.bytes <= plan.arena_bytes);
            unshared += aligned(p.bytes);
        }
    }
    CHECK(plan.unshared_bytes == unshared);
    CHECK(plan.arena_bytes <= plan.unshared_bytes);
    CHECK(plan.arena_bytes % kArenaAlignment == 0);
}

// Feature maps live in the arena in the internal layout; the driver converts
// the caller's 4-D input and output, so only vectors use the caller's arrays.
void check_network_buffers(const Graph &graph, const MemoryPlan &plan) {
    CHECK(plan.placements[0].storage ==
          (in_internal_layout(graph.input()) ? Storage::Arena : Storage::NetworkInput));
    int outputs = 0;
    for (const Placement &p : plan.placements) {
        outputs += p.storage == Storage::NetworkOutput ? 1 : 0;
    }
    if (graph.output == 0 || in_internal_layout(graph.output_node())) {
        CHECK(outputs == 0);
        return;
    }
    CHECK(outputs == 1);
    const Placement &out = plan.placements[holder(plan, graph.output)];
    CHECK(out.storage == Storage::NetworkOutput);
    CHECK(plan.placements[graph.output].offset + plan.placements[graph.output].bytes <= out.bytes);
}

// Steps through the network as the driver would: the arena buffers live at
// each step are those first written at or before it (a concat's, by the
// first input written in place) and read (directly or through an alias) at
// or after it; no two of them may share a byte, and no node may write bytes
// that one of its inputs occupies, but for a concat's inputs written in
// place, which are its own.
void check_lifetimes(const Graph &graph, const MemoryPlan &plan) {
    std::vector<NodeId> last_read(graph.nodes.size());
    std::vector<NodeId> first_write(graph.nodes.size());
    for (const Node &node : graph.nodes) {
        first_write[node.id] = node.id;
    }
    for (const Node &node : graph.nodes) {
        NodeId concat = written_in_place(graph, node.id);
        if (concat >= 0) {
            first_write[concat] = std::min(first_write[concat], node.id);
        }
    }
    for (const Node &node : graph.nodes) {
        last_read[node.id] = std::max(last_read[node.id], node.id);
        for (NodeId in : node.inputs) {
            NodeId h = holder(plan, in);
            last_read[h] = std::max(last_read[h], node.id);
        }
    }
    // The driver's conversion of a feature-map output runs after every node.
    last_read[holder(plan, graph.output)] = static_cast<NodeId>(graph.nodes.size()) - 1;
    auto range = [&](NodeId id) {
        const Placement &p = plan.placements[id];
        return ByteRange{p.offset, p.offset + p.bytes};
    };
    for (const Node &step : graph.nodes) {
        std::vector<NodeId> live;
        for (const Node &node : graph.nodes) {
            if (plan.placements[node.id].storage == Storage::Arena &&
                first_write[node.id] <= step.id && step.id <= last_read[node.id]) {
                live.push_back(node.id);
            }
        }
        for (size_t i = 0; i < live.size(); ++i) {
            for (size_t j = i + 1; j < live.size(); ++j) {
                INFO("step " << step.id << ": %" << live[i] << " and %" << live[j]);
                CHECK_FALSE(overlap(range(live[i]), range(live[j])));
            }
        }
        if (plan.placements[step.id].storage != Storage::Arena) {
            continue;
        }
        for (NodeId in : step.inputs) {
            NodeId h = holder(plan, in);
            if (plan.placements[h].storage == Storage::Arena &&
                written_in_place(graph, in) != step.id) {
                INFO(step.name << " reads %" << in);
                CHECK_FALSE(overlap(range(step.id), range(h)));
            }
        }
    }
}

void check_plan(const Graph &graph, const MemoryPlan &plan) {
    REQUIRE(plan.placements.size() == graph.nodes.size());
    check_aliases(graph, plan);
    check_arena_bounds(graph, plan);
    check_network_buffers(graph, plan);
    check_lifetimes(graph, plan);
}

} // namespace

// ---------------------------------------------------------------------------
// The text form

TEST_CASE("graph text shows every attribute and the epilogue", "[passes]") {
    Graph graph = load(R"(input 8x9x9
a: conv 8 3x3 stride=2 pad=1 dilation=2 groups=4 bias=false
b: maxpool 3x3 stride=2 ceil=true <- input
c: avgpool 2x2 count_include_pad=false
d: lrn size=3 alpha=0.001 beta=0.5 k=2
e: split 2
f: shuffle 2 <- e[1]
g: batchnorm eps=0.001
h: leaky_relu slope=0.2
i: dropout p=0.25
)");
    graph.node(1).attr<ConvAttrs>().window.pad_end = Pair{2, 2};
    graph.node(1).epilogue.activation = Activation::LeakyRelu;
    graph.node(1).epilogue.slope = 0.1;
    CHECK(graph_to_text(graph) == R"(network t
%0 input = input : 1x8x9x9
%1 a = conv(%0) 8 3x3 stride=2 pad=1 pad_end=2 dilation=2 groups=4 nobias +leaky_relu(0.1) : 1x8x4x4
%2 b = maxpool(%0) 3x3 stride=2 pad=0 ceil : 1x8x4x4
%3 c = avgpool(%2) 2x2 stride=2 pad=0 exclude_pad : 1x8x2x2
%4 d = lrn(%3) size=3 alpha=0.001 beta=0.5 k=2 : 1x8x2x2
%5 e.0 = slice(%4) index=0 parts=2 : 1x4x2x2
%6 e.1 = slice(%4) index=1 parts=2 : 1x4x2x2
%7 f = shuffle(%6) groups=2 : 1x4x2x2
%8 g = batchnorm(%7) eps=0.001 : 1x4x2x2
%9 h = leaky_relu(%8) slope=0.2 : 1x4x2x2
%10 i = dropout(%9) p=0.25 : 1x4x2x2
output %10
)");
}

// ---------------------------------------------------------------------------
// Graph surgery

TEST_CASE("only_reader counts reads, and the output is always read", "[passes]") {
    Graph graph = load("input 4x4x4\na: relu\nb: relu\nc: add <- b, b\n");
    CHECK(only_reader(graph, graph.find("a")) == graph.find("b"));
    CHECK(only_reader(graph, graph.find("b")) == -1); // read twice by c
    CHECK(only_reader(graph, graph.output) == -1);
}

TEST_CASE("remove_node rewires readers and the output and renumbers", "[passes]") {
    Graph graph = load("input 4x4x4\na: relu\nb: sigmoid\nc: relu <- a\nj: concat <- b, c\n"
                       "i: identity\n");
    remove_node(graph, graph.find("a"), 0);
    remove_node(graph, graph.find("i"), graph.find("j"));
    verify_graph(graph);
    CHECK(graph_to_text(graph) == R"(network t
%0 input = input : 1x4x4x4
%1 b = sigmoid(%0) : 1x4x4x4
%2 c = relu(%0) : 1x4x4x4
%3 j = concat(%1, %2) : 1x8x4x4
output %3
)");
}

TEST_CASE("the weight store replaces and erases tensors, keeping old views valid", "[passes]") {
    WeightStore weights;
    Tensor first(Shape{{2}});
    first.data = {1.0f, 2.0f};
    weights.add("x", std::move(first));
    const float *old_data = weights.find("x")->data;

    Tensor second(Shape{{3}});
    second.data = {3.0f, 4.0f, 5.0f};
    weights.replace("x", std::move(second));
    CHECK(weights.find("x")->shape == Shape{{3}});
    CHECK(weights.find("x")->data[2] == 5.0f);
    CHECK(old_data[1] == 2.0f);

    weights.erase("x");
    CHECK(weights.find("x") == nullptr);
    CHECK(weights.size() == 0);
    CHECK_THROWS_AS(weights.erase("x"), InternalError);
    CHECK_THROWS_AS(weights.replace("x", Tensor(Shape{{1}})), InternalError);
}

// ---------------------------------------------------------------------------
// remove-noops

TEST_CASE("remove_noops drops dropout and identity, also at the output", "[passes]") {
    Graph graph = load(R"(input 3x8x8
conv 4 3x3 pad=1
d: dropout p=0.2
r: relu
skip: identity <- d
concat <- r, skip
out: identity
)");
    CHECK(remove_noops(graph) == 3);
    CHECK(graph_to_text(graph) == R"(network t
%0 input = input : 1x3x8x8
%1 0 = conv(%0) 4 3x3 stride=1 pad=1 groups=1 bias : 1x4x8x8
%2 r = relu(%1) : 1x4x8x8
%3 4 = concat(%2, %1) : 1x8x8x8
output %3
)");
}

TEST_CASE("remove_noops can leave the input as the output", "[passes]") {
    Graph graph = load("input 3x8x8\nidentity\ndropout\n");
    CHECK(remove_noops(graph) == 2);
    CHECK(graph.output == 0);
    verify_graph(graph);
}

// ---------------------------------------------------------------------------
// fold-batch-norm

TEST_CASE("fold_batch_norm folds into convs and linears read only by it", "[passes]") {
    Graph graph = load(R"(input 3x8x8
c1: conv 4 3x3 pad=1 bias=false
bn1: batchnorm
c2: conv 4 1x1
bn2: batchnorm eps=0.001
pool: maxpool 2x2
bn3: batchnorm
c3: conv 4 1x1 bias=false
r: relu
bn4: batchnorm <- c3
join: add <- r, bn4
flatten
fc: linear 5 bias=false
bn5: batchnorm
)");
    WeightStore weights = initialize_weights(graph);
    CHECK(fold_batch_norm(graph, weights) == 3);
    // bn3 follows a pooling layer; bn4's conv is also read by the relu.
    CHECK(graph_to_text(graph) == R"(network t
%0 input = input : 1x3x8x8
%1 c1 = conv(%0) 4 3x3 stride=1 pad=1 groups=1 bias : 1x4x8x8
%2 c2 = conv(%1) 4 1x1 stride=1 pad=0 groups=1 bias : 1x4x8x8
%3 pool = maxpool(%2) 2x2 stride=2 pad=0 : 1x4x4x4
%4 bn3 = batchnorm(%3) eps=1e-05 : 1x4x4x4
%5 c3 = conv(%4) 4 1x1 stride=1 pad=0 groups=1 nobias : 1x4x4x4
%6 r = relu(%5) : 1x4x4x4
%7 bn4 = batchnorm(%5) eps=1e-05 : 1x4x4x4
%8 join = add(%6, %7) : 1x4x4x4
%9 10 = flatten(%8) : 1x64
%10 fc = linear(%9) 5 bias : 1x5
output %10
)");
    for (const char *gone :
         {"bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn5.running_var"}) {
        CHECK(weights.find(gone) == nullptr);
    }
    CHECK(weights.find("bn3.weight") != nullptr);
    verify_weights(graph, weights);
}

TEST_CASE("fold_batch_norm computes scaled weights and shifted biases", "[passes]") {
    Graph graph = load("input 1x2x2\nc: conv 2 1x1\nbn: batchnorm eps=0.5\n");
    WeightStore weights = initialize_weights(graph);
    auto put = [&](const std::string &name, Shape shape, std::vector<float> values) {
        Tensor t(std::move(shape));
        t.data = std::move(values);
        weights.replace(name, std::move(t));
    };
    put("c.weight", Shape{{2, 1, 1, 1}}, {2.0f, -3.0f});
    put("c.bias", Shape{{2}}, {1.0f, 0.5f});
    put("bn.weight", Shape{{2}}, {3.0f, 1.0f});
    put("bn.bias", Shape{{2}}, {0.25f, -1.0f});
    put("bn.running_mean", Shape{{2}}, {2.0f, 0.0f});
    put("bn.running_var", Shape{{2}}, {3.5f, 1.5f});

    REQUIRE(fold_batch_norm(graph, weights) == 1);
    // scale = gamma / sqrt(var + eps) = 3 / 2 and 1 / sqrt(2);
    // w' = w * scale, b' = (b - mean) * scale + beta.
    const float *w = weights.find("c.weight")->data;
    const float *b = weights.find("c.bias")->data;
    CHECK(w[0] == 3.0f);
    CHECK(w[1] == Approx(-3.0 / std::sqrt(2.0)));
    CHECK(b[0] == -1.25f);
    CHECK(b[1] == Approx(0.5 / std::sqrt(2.0) - 1.0));
}

// ---------------------------------------------------------------------------
// fuse-epilogues

TEST_CASE("fuse_epilogues moves a conv to its add when the shortcut comes later", "[passes]") {
    Graph graph = load(R"(input 8x8x8
c1: conv 8 3x3 pad=1 bias=false
r1: relu
c2: conv 8 3x3 pad=1
s: conv 8 1x1 <- r1
join: add <- c2, s
r2: relu
)");
    EpilogueFusionCounts counts = fuse_epilogues(graph);
    CHECK(counts.residuals == 1);
    CHECK(counts.activations == 2);
    CHECK(graph_to_text(graph) == R"(network t
%0 input = input : 1x8x8x8
%1 c1 = conv(%0) 8 3x3 stride=1 pad=1 groups=1 nobias +relu : 1x8x8x8
%2 s = conv(%1) 8 1x1 stride=1 pad=0 groups=1 bias : 1x8x8x8
%3 c2 = conv(%1, %2) 8 3x3 stride=1 pad=1 groups=1 bias +residual +relu : 1x8x8x8
output %3
)");
}

TEST_CASE("fuse_epilogues fuses every activation into every producer kind", "[passes]") {
    Graph graph = load(R"(input 8x8x8
a: maxpool 2x2
a1: relu6
b: avgpool 2x2
b1: sigmoid
c: batchnorm
c1: leaky_relu slope=0.25
d: global_maxpool
d1: hardswish
e: add <- d1, d1
e1: relu
f: global_avgpool <- c1
f1: relu
flatten
g: linear 8
g1: relu
)");
    CHECK(fuse_epilogues(graph).activations == 7);
    CHECK(graph_to_text(graph) == R"(network t
%0 input = input : 1x8x8x8
%1 a = maxpool(%0) 2x2 stride=2 pad=0 +relu6 : 1x8x4x4
%2 b = avgpool(%1) 2x2 stride=2 pad=0 +sigmoid : 1x8x2x2
%3 c = batchnorm(%2) eps=1e-05 +leaky_relu(0.25) : 1x8x2x2
%4 d = global_maxpool(%3) +hardswish : 1x8x1x1
%5 e = add(%4, %4) +relu : 1x8x1x1
%6 f = global_avgpool(%3) +relu : 1x8x1x1
%7 12 = flatten(%6) : 1x8
%8 g = linear(%7) 8 bias +relu : 1x8
output %8
)");
}

TEST_CASE("fuse_epilogues leaves what it must not fuse", "[passes]") {
    Graph graph = load(R"(input 8x8x8
a: conv 8 1x1
r: relu
j1: add <- r, input
b: conv 8 1x1
j2: add <- b, j1, input
c: conv 8 1x1
c1: relu
j3: add <- c, c1
d: conv 8 1x1
out: relu <- d
dup: relu <- d
concat <- out, dup
x: conv 8 1x1 <- input
)");
    // a took its relu, so it takes no add after it; j2 has three inputs; c is
    // read twice; d has two readers; x is the output.
    CHECK(fuse_epilogues(graph).residuals == 0);
    std::string once = graph_to_text(graph);
    EpilogueFusionCounts again = fuse_epilogues(graph);
    CHECK(again.residuals + again.activations == 0);
    CHECK(graph_to_text(graph) == once);
    CHECK(once == R"(network t
%0 input = input : 1x8x8x8
%1 a = conv(%0) 8 1x1 stride=1 pad=0 groups=1 bias +relu : 1x8x8x8
%2 j1 = add(%1, %0) : 1x8x8x8
%3 b = conv(%2) 8 1x1 stride=1 pad=0 groups=1 bias : 1x8x8x8
%4 j2 = add(%3, %2, %0) : 1x8x8x8
%5 c = conv(%4) 8 1x1 stride=1 pad=0 groups=1 bias : 1x8x8x8
%6 c1 = relu(%5) : 1x8x8x8
%7 j3 = add(%5, %6) : 1x8x8x8
%8 d = conv(%7) 8 1x1 stride=1 pad=0 groups=1 bias : 1x8x8x8
%9 out = relu(%8) : 1x8x8x8
%10 dup = relu(%8) : 1x8x8x8
%11 11 = concat(%9, %10) : 1x16x8x8
%12 x = conv(%0) 8 1x1 stride=1 pad=0 groups=1 bias : 1x8x8x8
output %12
)");
}

TEST_CASE("the reference interpreter applies epilogues exactly as the separate layers",
          "[passes]") {
    Graph graph = load(R"(input 4x6x6
c1: conv 4 3x3 pad=1
r1: leaky_relu slope=0.1
c2: conv 4 3x3 pad=1
s: conv 4 1x1 <- r1
join: add <- c2, s
r2: hardswish
p: maxpool 2x2
r3: relu6
flatten
l: linear 6
r4: sigmoid
)");
    WeightStore weights = initialize_weights(graph);
    randomise_affine_tensors(graph, weights, 7);
    Tensor input = random_tensor(graph.input().shape, 8, -1.0f, 1.0f);
    Tensor expected = run_reference(graph, source_of(weights), input);

    EpilogueFusionCounts counts = fuse_epilogues(graph);
    CHECK(counts.residuals == 1);
    CHECK(counts.activations == 4);
    Tensor actual = run_reference(graph, source_of(weights), input);
    // Same operations in the same order: the same bits.
    CHECK(max_abs_difference(expected, actual) == 0.0f);
}

// ---------------------------------------------------------------------------
// The whole pipeline, numerically

TEST_CASE("optimising a small ResNet keeps its results", "[passes]") {
    Graph graph = check_optimisation_keeps_results(load(R"(input 3x16x16
block basic(channels, stride = 1) {
    residual {
        conv1: conv channels 3x3 stride=stride pad=1 bias=false
        bn1: batchnorm
        relu
        conv2: conv channels 3x3 pad=1
        bn2: batchnorm
    } shortcut if stride != 1 {
        downsample: { conv channels 1x1 stride=stride bias=false; batchnorm }
    }
    relu
}
conv1: conv 8 3x3 pad=1 bias=false
bn1: batchnorm
relu: relu
layer1: basic(8)
layer2: basic(16, stride=2)
avgpool: global_avgpool
flatten
drop: dropout
fc: linear 10
bn: batchnorm
)"),
                                                   1);
    CHECK(count_op(graph, OpKind::BatchNorm) == 0);
    CHECK(count_op(graph, OpKind::Add) == 0);
    CHECK(count_op(graph, OpKind::Relu) == 0);
}

TEST_CASE("optimising a small MobileNet keeps its results", "[passes]") {
    Graph graph = check_optimisation_keeps_results(load(R"(input 3x16x16
block conv_bn_relu6(channels, kernel = 3, stride = 1, groups = 1) {
    conv channels kernel stride=stride pad=(kernel - 1) / 2 groups=groups bias=false
    batchnorm
    relu6
}
block inverted_residual(in, out, stride, expand) {
    let hidden = in * expand
    residual if stride == 1 && in == out {
        conv: {
            if expand != 1 {
                conv_bn_relu6(hidden, kernel=1)
            }
            conv_bn_relu6(hidden, stride=stride, groups=hidden)
            conv out 1x1 bias=false
            batchnorm
        }
    }
}
features: {
    conv_bn_relu6(8, stride=2)
    inverted_residual(8, 8, 1, 1)
    inverted_residual(8, 12, 2, 4)
    inverted_residual(12, 12, 1, 4)
    hardswish
}
avgpool: global_avgpool
flatten
classifier: { dropout p=0.2; linear 10 }
)"),
                                                   2);
    CHECK(count_op(graph, OpKind::BatchNorm) == 0);
    CHECK(count_op(graph, OpKind::Relu6) == 0);
    CHECK(count_op(graph, OpKind::Dropout) == 0);
}

TEST_CASE("optimising the example ResNet-18 and MobileNet V2 keeps their results", "[passes]") {
    for (const char *network : {"resnet18", "mobilenet_v2"}) {
        Graph graph = check_optimisation_keeps_results(load_strata_file(example_path(network)), 3);
        CHECK(count_op(graph, OpKind::BatchNorm) == 0);
        CHECK(count_op(graph, OpKind::Add) == 0);
    }
}

// ---------------------------------------------------------------------------
// The pipeline runner

TEST_CASE("optimise dumps after the passes asked for and times them", "[passes]") {
    Graph graph = load("input 3x8x8\nc: conv 4 3x3 bias=false\nbn: batchnorm\nrelu\n");
    WeightStore weights = initialize_weights(graph);
    std::ostringstream log;
    OptimiseOptions options;
    options.dump_after = {"fold-batch-norm"};
    options.time_passes = true;
    options.log = &log;
    optimise(graph, weights, options);

    std::string text = log.str();
    INFO(text);
    CHECK(text.find("# after fold-batch-norm (1 folded)\nnetwork t\n") != std::string::npos);
    CHECK(text.find("# after remove-noops") == std::string::npos);
    CHECK(text.find("fold-batch-norm ") != std::string::npos);
    CHECK(text.find("1 folded") != std::string::npos);
    CHECK(text.find("0 residuals, 1 activation") != std::string::npos);
    CHECK(text.find("total") != std::string::npos);
}

TEST_CASE("optimise dumps after every pass with 'all'", "[passes]") {
    Graph graph = load("input 3x8x8\nc: conv 4 3x3\n");
    WeightStore weights = initialize_weights(graph);
    std::ostringstream log;
    OptimiseOptions options;
    options.dump_after = {"all"};
    options.log = &log;
    optimise(graph, weights, options);
    std::string text = log.str();
    for (const char *pass : {"remove-noops", "fold-batch-norm", "fuse-epilogues"}) {
        CHECK(text.find(std::string("# after ") + pass) != std::string::npos);
    }
    CHECK(text.find("time (ms)") == std::string::npos);
}

TEST_CASE("optimise rejects an unknown pass name, listing the valid ones", "[passes]") {
    Graph graph = load("input 3x8x8\nc: conv 4 3x3\n");
    WeightStore weights = initialize_weights(graph);
    OptimiseOptions options;
    options.dump_after = {"fold-batchnorm"};
    try {
        optimise(graph, weights, options);
        FAIL("no error");
    } catch (const UserError &error) {
        CHECK(error.message() == "--dump-after names an unknown pass 'fold-batchnorm'");
        CHECK(error.help() ==
              "the passes are remove-noops, fold-batch-norm, fuse-epilogues and all");
    }
    CHECK(graph.nodes.size() == 2); // nothing ran
}

TEST_CASE("optimise rejects weights that do not fit the graph", "[passes]") {
    Graph graph = load("input 3x8x8\nc: conv 4 3x3\nbn: batchnorm\n");
    WeightStore weights = initialize_weights(graph);
    weights.erase("bn.running_var");
    CHECK_THROWS_AS(optimise(graph, weights, OptimiseOptions{}), UserError);
}

// ---------------------------------------------------------------------------
// plan-memory

TEST_CASE("plan_memory reuses a chain's buffers", "[passes]") {
    Graph graph = load(R"(input 64
a: linear 64
b: linear 64
c: linear 64
d: linear 64
e: linear 64
)");
    MemoryPlan plan = plan_memory(graph);
    check_plan(graph, plan);
    // b, c, d ping-pong between two buffers of 256 bytes; e is the output.
    CHECK(plan.arena_bytes == 2 * 256);
    CHECK(plan.unshared_bytes == 4 * 256);
    CHECK(dump_memory_plan(graph, plan) == R"(memory plan: arena 512 bytes, 1024 without reuse
%0 input: network input, 256 bytes
%1 a: arena [0, 256), 256 bytes
%2 b: arena [256, 512), 256 bytes
%3 c: arena [0, 256), 256 bytes
%4 d: arena [256, 512), 256 bytes
%5 e: network output, 256 bytes
)");
}

TEST_CASE("plan_memory keeps feature maps in the arena for the driver to convert", "[passes]") {
    Graph graph = load("input 3x4x4\na: conv 4 3x3 pad=1\nb: conv 4 3x3 pad=1\n");
    MemoryPlan plan = plan_memory(graph);
    check_plan(graph, plan);
    CHECK(plan.placements[0].storage == Storage::Arena);
    CHECK(plan.placements[graph.output].storage == Storage::Arena);
    // The output outlives every node: the final conversion reads it.
    CHECK(plan.placements[graph.find("b")].offset != plan.placements[graph.find("a")].offset);
}

TEST_CASE("plan_memory aliases split parts of vectors, aligning the arena", "[passes]") {
    Graph graph = load(R"(input 12
a: linear 96
s: split 3
left: relu <- s[0]
right: sigmoid <- s[2]
j: add <- left, s[1], right
)");
    MemoryPlan plan = plan_memory(graph);
    check_plan(graph, plan);
    const Placement &middle = plan.placements[graph.find("s.1")];
    const Placement &last = plan.placements[graph.find("s.2")];
    CHECK(middle.storage == Storage::Alias);
    CHECK(middle.base == graph.find("a"));
    CHECK(middle.offset == 32 * 4);
    CHECK(last.offset == 64 * 4);
    // a stays live until j reads its middle part: nothing reuses it before.
    const Placement &a = plan.placements[graph.find("a")];
    for (const char *name : {"left", "right"}) {
        const Placement &p = plan.placements[graph.find(name)];
        CHECK((p.offset >= a.offset + a.bytes || p.offset + p.bytes <= a.offset));
        CHECK(p.offset % kArenaAlignment == 0);
    }
}

TEST_CASE("plan_memory views a split or flatten of a feature map only when the bytes agree",
          "[passes]") {
    Graph graph = load(R"(input 4x3x3
s: split 2
f: flatten <- s[1]
g: global_avgpool <- s[0]
h: flatten <- g
concat <- f, h
)");
    MemoryPlan plan = plan_memory(graph);
    check_plan(graph, plan);
    // Channels innermost: a channel part is a view that steps over the other
    // part's channels; a 3x3 map's flatten reorders bytes, so it is a
    // kernel; the flatten of a 1x1 map is a view.
    CHECK(plan.placements[graph.find("s.1")].storage == Storage::Alias);
    CHECK(plan.placements[graph.find("s.1")].offset == 2 * 4);
    CHECK(storage_strides(graph, graph.find("s.1")) == std::vector<int64_t>{1, 4, 12});
    CHECK(plan.placements[graph.find("f")].storage == Storage::Arena);
    CHECK(plan.placements[graph.find("h")].storage == Storage::Alias);
}

TEST_CASE("plan_memory writes a concat's inputs in place when the concat is their only reader",
          "[passes]") {
    Graph graph = load(R"(input 4x3x3
a: conv 6 1x1
b: conv 2 1x1 <- input
c: relu <- input
k: concat <- a, b, input
out: add <- k, k
relu <- c
)");
    MemoryPlan plan = plan_memory(graph);
    check_plan(graph, plan);
    const NodeId k = graph.find("k");
    CHECK(written_in_place(graph, graph.find("a")) == k);
    CHECK(written_in_place(graph, graph.find("b")) == k);
    CHECK(written_in_place(graph, 0) == -1);               // the network's input has its own buffer
    CHECK(written_in_place(graph, graph.find("c")) == -1); // not read by a concat
    CHECK(plan.placements[graph.find("a")].base == k);
    CHECK(plan.placements[graph.find("a")].offset == 0);
    CHECK(plan.placements[graph.find("b")].offset == 6 * 4);
    CHECK(storage_strides(graph, graph.find("b")) == std::vector<int64_t>{1, 12, 36});
    CHECK_FALSE(filled_in_place(graph, graph.node(k))); // it still copies the input

    Graph twice = load("input 4x3x3\na: conv 6 1x1\nk: concat <- a, a\n");
    CHECK(written_in_place(twice, twice.find("a")) == -1); // two reads
    Graph whole = load("input 4x3x3\na: conv 6 1x1\nb: conv 2 1x1 <- input\nconcat <- a, b\n");
    plan = plan_memory(whole);
    check_plan(whole, plan);
    CHECK(filled_in_place(whole, whole.output_node()));
}

TEST_CASE("plan_memory stores a zero border around maps that padded convs read", "[passes]") {
    Graph graph = load(R"(input 3x8x6
a: conv 16 1x1
b: conv 16 3x3 pad=1
c: conv 16 5x5 pad=2 <- a
add <- b, c
)");
    MemoryPlan plan = plan_memory(graph);
    check_plan(graph, plan);
    const NodeId a = graph.find("a");
    // The widest window reading a: two pixels on every side of its 6x8 map.
    CHECK(storage_border(graph, a).x == 2);
    CHECK(storage_border(graph, a).y == 2);
    CHECK(storage_strides(graph, a) == std::vector<int64_t>{1, 16, 16 * 10});
    CHECK(plan.placements[a].bytes == 16 * 10 * 12 * 4);
    CHECK(interior_offset(graph, a) == (2 * 16 * 10 + 2 * 16) * 4);
    // The input is read by a 1x1 conv, b and c by an add: no border.
    for (const char *name : {"input", "b", "c"}) {
        CHECK_FALSE(storage_border(graph, graph.find(name)).any());
    }

    Graph depthwise = load("input 8x6x6\na: conv 8 1x1\nconv 8 3x3 pad=1 groups=8\n");
    CHECK_FALSE(storage_border(depthwise, depthwise.find("a")).any());
    Graph viewed = load("input 8x6x6\na: conv 8 1x1\ns: split 2\nconv 4 3x3 pad=1 <- s[0]\n");
    CHECK_FALSE(storage_border(viewed, viewed.find("a")).any());
    CHECK_FALSE(storage_border(viewed, viewed.find("s.0")).any());
    Graph strided = load("input 4x9x9\nconv 8 7x7 stride=2 pad=3\n");
    CHECK(storage_border(strided, 0).x == 3);
    CHECK(storage_border(strided, 0).y == 3);
}

TEST_CASE("plan_memory puts a flattened output's source in the output buffer", "[passes]") {
    Graph graph = load("input 3x4x4\nc: conv 2 1x1\ng: global_avgpool\nf1: flatten\nf2: flatten\n");
    MemoryPlan plan = plan_memory(graph);
    check_plan(graph, plan);
    CHECK(plan.placements[graph.find("g")].storage == Storage::NetworkOutput);
    CHECK(plan.placements[graph.find("f2")].storage == Storage::Alias);
    CHECK(plan.placements[graph.find("f2")].base == graph.find("g"));
}

TEST_CASE("plan_memory gives a sliced or input-aliasing output a buffer of its own", "[passes]") {
    Graph sliced = load("input 8\nc: linear 4\ns: split 2\nout: identity <- s[1]\n");
    remove_noops(sliced);
    MemoryPlan plan = plan_memory(sliced);
    check_plan(sliced, plan);
    CHECK(plan.placements[sliced.output].storage == Storage::NetworkOutput);
    CHECK(plan.placements[sliced.find("c")].storage == Storage::Arena);

    Graph flat = load("input 4x4x4\nflatten\n");
    plan = plan_memory(flat);
    check_plan(flat, plan);
    CHECK(plan.placements[flat.output].storage == Storage::NetworkOutput);

    Graph nothing = load("input 16\nidentity\n");
    remove_noops(nothing);
    plan = plan_memory(nothing);
    check_plan(nothing, plan);
    CHECK(plan.arena_bytes == 0);
}

TEST_CASE("plan_memory is sound on every example network, before and after optimising",
          "[passes]") {
    for (const std::string &network : kExampleNetworks) {
        INFO(network);
        Graph graph = load_strata_file(example_path(network));
        MemoryPlan plain = plan_memory(graph);
        check_plan(graph, plain);

        WeightStore weights = initialize_weights(graph);
        optimise(graph, weights, OptimiseOptions{});
        MemoryPlan optimised = plan_memory(graph);
        check_plan(graph, optimised);
        CHECK(optimised.arena_bytes < optimised.unshared_bytes);
        CHECK(optimised.arena_bytes <= plain.arena_bytes);
    }
}
