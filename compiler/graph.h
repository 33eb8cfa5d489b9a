// The graph IR: one network as a directed acyclic graph of layers.
//
// Both front ends (the .strata language and, later, ONNX) produce it and every
// pass reads and writes it. It knows nothing of Halide.
//
// Invariants (checked by verify_graph):
// - nodes are stored in topological order: every input of node i is < i;
// - node 0 is the single Input node; `output` names the network's result;
// - node names are unique and, where the user chose them, follow PyTorch's
//   state_dict naming (`layer1.0.conv1`), so `NAME.weight` finds its tensor;
// - `shape` is empty until infer_shapes has run, then it is the node's output
//   shape: NCHW for feature maps, NF after flatten or linear. The batch is 1.
#pragma once

#include "diagnostics.h"

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace strata {

using NodeId = int;

enum class OpKind {
    Input,
    Conv, // convolution, grouped and depthwise through `groups`
    MaxPool,
    AvgPool,
    GlobalAvgPool, // mean over H and W, keeps NCHW with H = W = 1
    GlobalMaxPool,
    BatchNorm, // inference form: running statistics, scale and shift
    Relu,
    Relu6,
    LeakyRelu,
    Sigmoid,
    HardSwish,
    Linear,  // fully connected, reads NF
    Flatten, // NCHW -> N(C*H*W)
    Dropout, // identity at inference
    Identity,
    Add,     // element-wise sum of two or more equal shapes
    Concat,  // along channels
    Slice,   // one of several equal channel parts of its input
    Shuffle, // channel shuffle with G groups
    Softmax, // over channels (dim 1)
    Lrn,     // local response normalisation across channels
};

/// The spelling used in the language, in dumps and in reports: "conv", "maxpool".
const char *op_name(OpKind op);

/// True for layers that map each element on its own (activations, dropout,
/// identity): the course's tables fold these into the row of their producer.
bool is_elementwise_unary(OpKind op);

/// Height and width of a 2-D quantity (kernel, stride, padding, dilation).
struct Pair {
    int64_t h = 0;
    int64_t w = 0;
    bool operator==(const Pair &other) const { return h == other.h && w == other.w; }
};

/// The sliding window shared by convolution and pooling. Padding may differ
/// at the start and end of each axis (ONNX allows it).
struct Window {
    Pair kernel{1, 1};
    Pair stride{1, 1};
    Pair pad_begin{0, 0};
    Pair pad_end{0, 0};
    Pair dilation{1, 1};
    bool ceil_mode = false;
};

/// Output length of one axis under PyTorch's rule, including ceil mode (where
/// a last window that would start in the end padding is dropped). Returns a
/// value < 1 when the window does not fit; the caller reports that.
int64_t window_output_size(int64_t input, int64_t kernel, int64_t stride, int64_t pad_begin,
                           int64_t pad_end, int64_t dilation, bool ceil_mode);

struct ConvAttrs {
    int64_t out_channels = 0;
    Window window;
    int64_t groups = 1;
    bool bias = true;
};

struct PoolAttrs {
    Window window;
    bool count_include_pad = true; // average pooling only, PyTorch's default
};

struct BatchNormAttrs {
    double epsilon = 1e-5;
};

struct LeakyReluAttrs {
    double slope = 0.01;
};

struct LinearAttrs {
    int64_t out_features = 0;
    bool bias = true;
};

struct DropoutAttrs {
    double probability = 0.5;
};

/// Part `index` of `parts` equal channel parts (torch.chunk on divisible sizes).
struct SliceAttrs {
    int64_t index = 0;
    int64_t parts = 1;
};

struct ShuffleAttrs {
    int64_t groups = 1;
};

struct LrnAttrs {
    int64_t size = 5;
    double alpha = 1e-4;
    double beta = 0.75;
    double k = 1.0;
};

using Attributes =
    std::variant<std::monostate, ConvAttrs, PoolAttrs, BatchNormAttrs, LeakyReluAttrs, LinearAttrs,
                 DropoutAttrs, SliceAttrs, ShuffleAttrs, LrnAttrs>;

/// Element-wise work fused onto the end of a node by the fusion passes:
/// out = activation(op(inputs...) + inputs.back() if `residual`). A node built
/// by a front end has none.
enum class Activation { None, Relu, Relu6, LeakyRelu, Sigmoid, HardSwish };

struct Epilogue {
    bool residual = false; // the node's last input is added before the activation
    Activation activation = Activation::None;
    double slope = 0; // LeakyRelu's negative slope

    bool empty() const { return !residual && activation == Activation::None; }
};

/// The epilogue activation that computes `op`, or None when `op` is not an
/// activation layer.
Activation activation_of(OpKind op);

/// A tensor shape, outermost dimension first.
struct Shape {
    std::vector<int64_t> dims;

    int rank() const { return static_cast<int>(dims.size()); }
    int64_t elements() const;
    bool operator==(const Shape &other) const { return dims == other.dims; }
    bool operator!=(const Shape &other) const { return dims != other.dims; }
    /// "1x64x56x56"
    std::string str() const;
};

struct Node {
    NodeId id = -1;
    std::string name;
    OpKind op = OpKind::Identity;
    std::vector<NodeId> inputs;
    Attributes attrs;
    Epilogue epilogue;                      // set only by fusion passes
    SourceLocation location;                // the statement that made this node
    std::vector<SourceLocation> call_sites; // block calls that led there, outermost first
    Shape shape;                            // filled by infer_shapes

    template <typename T> const T &attr() const {
        const T *a = std::get_if<T>(&attrs);
        check_internal(a != nullptr, "node attributes do not match the node's operator");
        return *a;
    }
    template <typename T> T &attr() {
        T *a = std::get_if<T>(&attrs);
        check_internal(a != nullptr, "node attributes do not match the node's operator");
        return *a;
    }
};

class Graph {
  public:
    std::string name;
    std::vector<Node> nodes;
    NodeId output = -1;

    /// Appends a node and returns its id. Inputs must already exist.
    NodeId add(Node node);

    const Node &node(NodeId id) const;
    Node &node(NodeId id);
    const Node &input() const { return node(0); }
    const Node &output_node() const { return node(output); }

    /// The id of the node called `name`, or -1.
    NodeId find(const std::string &name) const;

    /// For every node, the ids of the nodes that read it, in order.
    std::vector<std::vector<NodeId>> consumers() const;
};

/// Checks the structural invariants listed at the top of this file. A failure
/// is an InternalError: front ends and passes must never produce such graphs.
void verify_graph(const Graph &graph);

} // namespace strata

namespace strata {

/// A user error about `node`: at its statement, with a note for each block
/// call that led there, innermost first.
UserError node_error(const Node &node, std::string message, std::string help = {});

/// How messages name a node: "conv 'layer1.0.conv1'", or "the input".
std::string describe(const Node &node);

} // namespace strata
