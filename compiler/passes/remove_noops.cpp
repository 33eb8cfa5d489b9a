#include "passes/remove_noops.h"

#include "graph_edit.h"

namespace strata {

int remove_noops(Graph &graph) {
    int removed = 0;
    // remove_node moves the later nodes down, so `id` is advanced only past a kept node.
    for (NodeId id = 1; static_cast<size_t>(id) < graph.nodes.size();) {
        const Node &node = graph.node(id);
        bool noop = node.op == OpKind::Dropout || node.op == OpKind::Identity;
        if (noop && node.epilogue.empty()) {
            remove_node(graph, id, node.inputs.at(0));
            ++removed;
        } else {
            ++id;
        }
    }
    return removed;
}

} // namespace strata
