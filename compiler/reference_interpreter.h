// The reference interpreter: the ground truth for every layer and network.
//
// A plain C++ evaluation of the graph IR, one node after another, written to
// be obviously correct rather than fast: no Halide, no SIMD, no threads. Every
// generated kernel is tested against it, and `strata run --reference` uses it.
//
// Its semantics are PyTorch's, layer by layer (conv padding reads zero, max
// pooling padding reads -inf, average pooling divides as avg_pool2d does in
// ceil mode, channel shuffle and local response normalisation follow
// torch.nn.functional). Sums over windows and features (conv, linear,
// pooling, softmax, LRN) are accumulated in double, so that its own rounding
// error stays far below the tolerance the tests allow the generated code.
#pragma once

#include "graph.h"
#include "tensor.h"

#include <functional>
#include <string>

namespace strata {

/// Returns the parameter tensor called `tensor_name`, named as in
/// parameters.h (`conv1.weight`, `bn1.running_var`). The view must stay valid
/// until run_reference returns. A missing tensor is the source's to report.
using WeightSource = std::function<TensorView(const std::string &tensor_name)>;

/// Evaluates `graph` on `input` and returns the output node's tensor.
///
/// Requires: verify_graph holds, infer_shapes has run (every node.shape is
/// filled), `input.shape` equals the Input node's shape, and every parameter
/// that `weights` returns has the shape parameters_of gives it. Any violation,
/// or a situation the interpreter does not support, is an InternalError: the
/// front ends validate user input before it gets here.
///
/// Every node's epilogue (graph.h) is applied after its operator: the residual
/// input, when there is one, is added, then the activation, so that graphs the
/// fusion passes have rewritten run as well.
///
/// Intermediate tensors are freed as soon as their last consumer has run, so
/// peak memory is that of the live activations, as in the generated code.
Tensor run_reference(const Graph &graph, const WeightSource &weights, const Tensor &input);

} // namespace strata
