// remove-noops: drops the layers that compute nothing at inference.
//
// Requires: a graph that passes verify_graph.
// Guarantees: no Dropout or Identity node is left; each one's readers read
// its input instead, and when one was the network's output, its input is
// now. Every other node, its shape and its name are unchanged.
#pragma once

#include "graph.h"

namespace strata {

/// Returns the number of nodes removed.
int remove_noops(Graph &graph);

} // namespace strata
