// Shape inference and verification: fills every node's output shape and
// rejects graphs whose shapes do not fit together.
#pragma once

#include "graph.h"

namespace strata {

/// Requires a graph that passes verify_graph, with the input's shape set.
/// Guarantees every node's `shape` is set and every layer's input fits it;
/// otherwise throws a UserError at the offending layer that names the shapes
/// involved and the layers they came from.
void infer_shapes(Graph &graph);

} // namespace strata
