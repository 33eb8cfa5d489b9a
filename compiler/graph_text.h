// The graph IR as text: what --dump-after prints and what the passes' golden
// tests compare. One node per line, in node order:
//
//     network resnet18
//     %0 input = input : 1x3x224x224
//     %1 conv1 = conv(%0) 64 7x7 stride=2 pad=3 groups=1 bias +relu : 1x64x112x112
//     %5 layer1.0.conv2 = conv(%4, %2) 64 3x3 stride=1 pad=1 groups=1 nobias +residual +relu : ...
//     output %68
//
// After the operator and its inputs come its attributes, positional ones
// first, then the epilogue (`+residual`: the last input is added; then the
// activation), then the shape when infer_shapes has run. Attributes that are
// rarely set (dilation, ceil mode, uneven padding) appear only when they are.
// The form is stable: changing it means updating every golden test.
#pragma once

#include "graph.h"

#include <string>

namespace strata {

/// The whole graph, one line per node and a last line naming the output.
std::string graph_to_text(const Graph &graph);

} // namespace strata
