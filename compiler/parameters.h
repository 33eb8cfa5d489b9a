// The learned tensors each layer owns, named as PyTorch names them, so that
// `NODE.weight` in a state_dict finds its layer.
#pragma once

#include "graph.h"

#include <string>
#include <vector>

namespace strata {

enum class ParameterRole {
    Weight,    // conv and linear kernels, batch norm's scale (gamma)
    Bias,      // conv and linear biases, batch norm's shift (beta)
    Statistic, // batch norm's running mean and variance: buffers, not parameters
};

struct ParameterSpec {
    std::string suffix; // "weight", "bias", "running_mean", "running_var"
    Shape shape;
    ParameterRole role = ParameterRole::Weight;
};

/// The tensors `node` needs, with their shapes. Requires infer_shapes to have
/// run (a conv's weight shape depends on its input channels).
std::vector<ParameterSpec> parameters_of(const Graph &graph, const Node &node);

} // namespace strata
