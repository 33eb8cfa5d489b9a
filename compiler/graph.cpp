#include "graph.h"

#include <limits>
#include <set>

namespace strata {

const char *op_name(OpKind op) {
    switch (op) {
    case OpKind::Input: return "input";
    case OpKind::Conv: return "conv";
    case OpKind::MaxPool: return "maxpool";
    case OpKind::AvgPool: return "avgpool";
    case OpKind::GlobalAvgPool: return "global_avgpool";
    case OpKind::GlobalMaxPool: return "global_maxpool";
    case OpKind::BatchNorm: return "batchnorm";
    case OpKind::Relu: return "relu";
    case OpKind::Relu6: return "relu6";
    case OpKind::LeakyRelu: return "leaky_relu";
    case OpKind::Sigmoid: return "sigmoid";
    case OpKind::HardSwish: return "hardswish";
    case OpKind::Linear: return "linear";
    case OpKind::Flatten: return "flatten";
    case OpKind::Dropout: return "dropout";
    case OpKind::Identity: return "identity";
    case OpKind::Add: return "add";
    case OpKind::Concat: return "concat";
    case OpKind::Slice: return "slice";
    case OpKind::Shuffle: return "shuffle";
    case OpKind::Softmax: return "softmax";
    case OpKind::Lrn: return "lrn";
    }
    throw InternalError("op_name: unknown OpKind");
}

bool is_elementwise_unary(OpKind op) {
    switch (op) {
    case OpKind::Relu:
    case OpKind::Relu6:
    case OpKind::LeakyRelu:
    case OpKind::Sigmoid:
    case OpKind::HardSwish:
    case OpKind::Dropout:
    case OpKind::Identity: return true;
    default: return false;
    }
}

Activation activation_of(OpKind op) {
    switch (op) {
    case OpKind::Relu: return Activation::Relu;
    case OpKind::Relu6: return Activation::Relu6;
    case OpKind::LeakyRelu: return Activation::LeakyRelu;
    case OpKind::Sigmoid: return Activation::Sigmoid;
    case OpKind::HardSwish: return Activation::HardSwish;
    default: return Activation::None;
    }
}

int64_t window_output_size(int64_t input, int64_t kernel, int64_t stride, int64_t pad_begin,
                           int64_t pad_end, int64_t dilation, bool ceil_mode) {
    // The sizes may come straight from the user and be huge. A window whose
    // span overflows fits nowhere; padding that overflows gives an output far
    // too large, which the caller's size check reports.
    int64_t span = 0;
    if (__builtin_mul_overflow(dilation, kernel - 1, &span) ||
        __builtin_add_overflow(span, 1, &span)) {
        return 0;
    }
    int64_t padded = 0;
    if (__builtin_add_overflow(input, pad_begin, &padded) ||
        __builtin_add_overflow(padded, pad_end, &padded)) {
        return std::numeric_limits<int64_t>::max();
    }
    int64_t room = padded - span;
    if (room < 0) {
        return 0;
    }
    int64_t steps = room / stride + (ceil_mode && room % stride != 0 ? 1 : 0);
    // PyTorch drops a last window that would start inside the end padding,
    // that is steps * stride >= input + pad_begin (tested without the product).
    if (ceil_mode && steps > (input + pad_begin - 1) / stride) {
        --steps;
    }
    return steps + 1;
}

int64_t Shape::elements() const {
    int64_t n = 1;
    for (int64_t d : dims) {
        n *= d;
    }
    return n;
}

std::string Shape::str() const {
    std::string s;
    for (size_t i = 0; i < dims.size(); ++i) {
        s += (i ? "x" : "") + std::to_string(dims[i]);
    }
    return s.empty() ? "scalar" : s;
}

NodeId Graph::add(Node node) {
    node.id = static_cast<NodeId>(nodes.size());
    for (NodeId in : node.inputs) {
        check_internal(in >= 0 && in < node.id, "a node's inputs must precede it");
    }
    nodes.push_back(std::move(node));
    return nodes.back().id;
}

const Node &Graph::node(NodeId id) const {
    check_internal(id >= 0 && static_cast<size_t>(id) < nodes.size(), "node id out of range");
    return nodes[id];
}

Node &Graph::node(NodeId id) {
    check_internal(id >= 0 && static_cast<size_t>(id) < nodes.size(), "node id out of range");
    return nodes[id];
}

NodeId Graph::find(const std::string &wanted) const {
    for (const Node &n : nodes) {
        if (n.name == wanted) {
            return n.id;
        }
    }
    return -1;
}

std::vector<std::vector<NodeId>> Graph::consumers() const {
    std::vector<std::vector<NodeId>> result(nodes.size());
    for (const Node &n : nodes) {
        for (NodeId in : n.inputs) {
            result[in].push_back(n.id);
        }
    }
    return result;
}

void verify_graph(const Graph &graph) {
    check_internal(!graph.nodes.empty() && graph.nodes[0].op == OpKind::Input,
                   "node 0 must be the network's input");
    check_internal(graph.output >= 0 && static_cast<size_t>(graph.output) < graph.nodes.size(),
                   "the graph must name an output node");
    std::set<std::string> names;
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
        const Node &n = graph.nodes[i];
        check_internal(n.id == static_cast<NodeId>(i), "node ids must equal their position");
        check_internal(i == 0 || n.op != OpKind::Input, "only node 0 may be an input");
        check_internal(names.insert(n.name).second, "node names must be unique");
        for (NodeId in : n.inputs) {
            check_internal(in >= 0 && in < n.id, "nodes must be in topological order");
        }
    }
}

} // namespace strata

namespace strata {

UserError node_error(const Node &node, std::string message, std::string help) {
    UserError error(node.location, std::move(message), std::move(help));
    for (auto it = node.call_sites.rbegin(); it != node.call_sites.rend(); ++it) {
        error.add_note(*it, "in the block called here");
    }
    return error;
}

std::string describe(const Node &node) {
    if (node.op == OpKind::Input) {
        return "the input";
    }
    return std::string(op_name(node.op)) + " '" + node.name + "'";
}

} // namespace strata
