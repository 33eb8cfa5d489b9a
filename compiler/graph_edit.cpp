#include "graph_edit.h"

namespace strata {

namespace {

void redirect_readers(Graph &graph, NodeId from, NodeId to) {
    for (Node &node : graph.nodes) {
        for (NodeId &in : node.inputs) {
            if (in == from) {
                in = to;
            }
        }
    }
    if (graph.output == from) {
        graph.output = to;
    }
}

} // namespace

NodeId only_reader(const Graph &graph, NodeId id) {
    if (id == graph.output) {
        return -1;
    }
    NodeId reader = -1;
    int reads = 0;
    for (const Node &node : graph.nodes) {
        for (NodeId in : node.inputs) {
            if (in == id) {
                reader = node.id;
                ++reads;
            }
        }
    }
    return reads == 1 ? reader : -1;
}

void remove_node(Graph &graph, NodeId id, NodeId replacement) {
    check_internal(replacement >= 0 && replacement < id,
                   "remove_node: the replacement must precede the removed node");
    redirect_readers(graph, id, replacement);
    erase_unread_node(graph, id);
}

void erase_unread_node(Graph &graph, NodeId id) {
    check_internal(id > 0 && static_cast<size_t>(id) < graph.nodes.size(),
                   "erase_unread_node: the node must exist and not be the input");
    check_internal(id != graph.output, "erase_unread_node: the output cannot be erased");
    graph.nodes.erase(graph.nodes.begin() + id);

    // Every later node moves down one place; no input may still name `id`.
    for (Node &node : graph.nodes) {
        if (node.id > id) {
            --node.id;
        }
        for (NodeId &in : node.inputs) {
            check_internal(in != id, "erase_unread_node: a remaining node reads the erased one");
            if (in > id) {
                --in;
            }
        }
    }
    if (graph.output > id) {
        --graph.output;
    }
}

} // namespace strata
