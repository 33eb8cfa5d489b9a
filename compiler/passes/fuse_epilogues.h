// fuse-epilogues: folds element-wise work into the node that produces its
// operand, so that a kernel writes its result once instead of three times.
//
// (a) A residual add into the conv (or linear layer) that is one of its two
//     operands. The fused node takes the add's place in the node order, since
//     the shortcut may be computed after the conv, and keeps the conv's name,
//     under which its weights are stored:
//
//         before                                  after
//         %3 c = conv(%2) ...                      %3 s = conv(%1) ...
//         %4 s = conv(%1) ...      (shortcut)      %4 c = conv(%2, %3) ... +residual
//         %5 add = add(%3, %4)                     (readers of %5 read %4)
//
// (b) An activation into a conv, linear, add, batch norm or pooling node,
//     which may already carry a residual from (a):
//
//         before                                  after
//         %4 c = conv(%2, %3) ... +residual        %4 c = conv(%2, %3) ... +residual +relu
//         %5 relu = relu(%4)                       (readers of %5 read %4)
//
// The epilogue applies the residual first and the activation last, which is
// the order (a) then (b) produces; an activation that precedes an add is never
// fused past it, since a node with an activation takes no residual.
//
// Requires: a graph that passes verify_graph, with shapes inferred.
// Guarantees: (a) every conv or linear node without an epilogue that is read
// only by an add with exactly two inputs (and is not the output) has absorbed
// it: epilogue.residual is set and the add's other input is its last input.
// (b) every conv, linear, add, batch norm or pooling node without an
// activation that is read only by a Relu, Relu6, LeakyRelu, Sigmoid or
// HardSwish (and is not the output) has absorbed it. Fused nodes keep their
// names; the absorbed nodes are gone and their readers read the fused node.
// Shapes are unchanged.
#pragma once

#include "graph.h"

namespace strata {

struct EpilogueFusionCounts {
    int residuals = 0;   // adds fused into a conv or linear layer
    int activations = 0; // activations fused into their producer
};

EpilogueFusionCounts fuse_epilogues(Graph &graph);

} // namespace strata
