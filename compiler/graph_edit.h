// Graph surgery shared by the rewriting passes: find a node's only reader,
// remove a node and rewire its readers, and keep ids compact.
//
// Every function here leaves a graph that passes verify_graph when given one
// that does: ids equal positions, inputs precede their readers, node 0 is the
// input and `output` names a node. Shapes are left as they are; a pass that
// changes what a node computes must keep its shape (the pipeline checks).
#pragma once

#include "graph.h"

namespace strata {

/// The node that reads `id`, when exactly one input slot of one node reads it
/// and it is not the network's output; otherwise -1. A node that reads `id`
/// twice (`add <- x, x`) is two reads. Fusing `id` into its reader, or its
/// reader into it, is safe only when this returns the reader.
NodeId only_reader(const Graph &graph, NodeId id);

/// Removes node `id` after making its readers, and the output if it is `id`,
/// read `replacement` instead. Requires 0 <= replacement < id, so that the
/// order stays topological. The nodes after `id` move down by one: ids held
/// across the call that are greater than `id` must be decremented.
void remove_node(Graph &graph, NodeId id, NodeId replacement);

/// Removes node `id`, which nothing reads and which is not the output (it was
/// absorbed by another node). The nodes after it move down by one.
void erase_unread_node(Graph &graph, NodeId id);

} // namespace strata
