#include "passes/fuse_epilogues.h"

#include "graph_edit.h"

namespace strata {

namespace {

bool is_kernel(OpKind op) {
    return op == OpKind::Conv || op == OpKind::Linear;
}

// Nodes whose kernels can apply an activation to each value they write.
bool takes_activation(OpKind op) {
    switch (op) {
    case OpKind::Conv:
    case OpKind::Linear:
    case OpKind::Add:
    case OpKind::BatchNorm:
    case OpKind::MaxPool:
    case OpKind::AvgPool:
    case OpKind::GlobalAvgPool:
    case OpKind::GlobalMaxPool: return true;
    default: return false;
    }
}

// (a) Fuses the add that reads `id` into it, when the guarantee allows; the
// fused node replaces the add and `id`'s slot is erased. Returns whether it did.
bool fuse_residual(Graph &graph, NodeId id) {
    const Node &kernel = graph.node(id);
    if (!is_kernel(kernel.op) || !kernel.epilogue.empty()) {
        return false;
    }
    NodeId add = only_reader(graph, id);
    if (add < 0 || graph.node(add).op != OpKind::Add || graph.node(add).inputs.size() != 2 ||
        !graph.node(add).epilogue.empty()) {
        return false;
    }
    const std::vector<NodeId> &operands = graph.node(add).inputs;
    NodeId shortcut = operands[0] == id ? operands[1] : operands[0];

    // The copy sits where the add was, after both operands; the add's readers
    // now read it. Nothing reads the original any more.
    Node fused = kernel;
    fused.id = add;
    fused.inputs.push_back(shortcut);
    fused.epilogue.residual = true;
    graph.node(add) = std::move(fused);
    erase_unread_node(graph, id);
    return true;
}

// (b) Fuses the activation that reads `id` into it, when the guarantee allows.
bool fuse_activation(Graph &graph, NodeId id) {
    const Node &producer = graph.node(id);
    if (!takes_activation(producer.op) || producer.epilogue.activation != Activation::None) {
        return false;
    }
    NodeId reader = only_reader(graph, id);
    if (reader < 0 || activation_of(graph.node(reader).op) == Activation::None ||
        !graph.node(reader).epilogue.empty()) {
        return false;
    }
    const Node &activation = graph.node(reader);
    Epilogue &epilogue = graph.node(id).epilogue;
    epilogue.activation = activation_of(activation.op);
    if (activation.op == OpKind::LeakyRelu) {
        epilogue.slope = activation.attr<LeakyReluAttrs>().slope;
    }
    remove_node(graph, reader, id);
    return true;
}

} // namespace

EpilogueFusionCounts fuse_epilogues(Graph &graph) {
    EpilogueFusionCounts counts;
    // Residuals first, over the whole graph: a conv that absorbs an add can
    // then absorb the activation after it (conv + add + relu, ResNet's block
    // end). Each fusion erases one node and moves the later ones down one
    // place, so the node now at `id` is examined next without advancing.
    for (NodeId id = 1; static_cast<size_t>(id) < graph.nodes.size();) {
        if (fuse_residual(graph, id)) {
            ++counts.residuals;
        } else {
            ++id;
        }
    }
    // An activation comes after its producer, so removing it leaves the
    // producer at `id` and moves only nodes that are still to be examined.
    for (NodeId id = 1; static_cast<size_t>(id) < graph.nodes.size(); ++id) {
        if (fuse_activation(graph, id)) {
            ++counts.activations;
        }
    }
    return counts;
}

} // namespace strata
