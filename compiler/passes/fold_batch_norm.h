// fold-batch-norm: merges an inference batch norm into the conv or linear
// layer that feeds it, so that it costs nothing at run time.
//
//     before                              after
//     %1 conv1 = conv(%0) ... nobias      %1 conv1 = conv(%0) ... bias
//     %2 bn1 = batchnorm(%1) eps=1e-05    (gone; its readers read %1)
//
// A batch norm is an affine map per channel, y = x * scale + shift with
// scale = gamma / sqrt(var + eps) and shift = beta - mean * scale, and a conv
// is linear in its weights, so the two compose into one conv with
// w' = w * scale (per output channel) and b' = b * scale + shift.
//
// Requires: infer_shapes has run and verify_weights(graph, weights) holds.
// Guarantees: every batch norm whose input is a conv or linear layer with no
// epilogue that nothing else reads (and that is not the output) is gone; that
// layer now has a bias, and its `NAME.weight` and `NAME.bias` in `weights`
// hold the folded values, computed in double and rounded once to float. The
// batch norm's own tensors are erased from `weights`, so verify_weights still
// holds. Other batch norms (after a pooling layer, an add, or a conv whose
// output is also read elsewhere) stay as they are. Shapes are unchanged.
#pragma once

#include "graph.h"
#include "weights.h"

namespace strata {

/// Returns the number of batch norms folded.
int fold_batch_norm(Graph &graph, WeightStore &weights);

} // namespace strata
