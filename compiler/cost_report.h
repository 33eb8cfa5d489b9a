// The per-layer cost report of `strata stats`: output shape, activation
// memory, weights, biases and multiply-accumulates, with the conventions of
// the course tables in shared/reference/cnn-tables.md.
#pragma once

#include "graph.h"

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace strata {

/// One row. Element-wise activations that run in place (relu after a conv)
/// are folded into the row of the layer they follow, as the course does.
struct LayerCost {
    std::string name;
    std::vector<OpKind> ops;      // the layer, then any folded activations
    Shape output;                 // of the last folded node
    std::optional<Window> window; // conv and pooling
    int64_t memory_bytes = 0;     // the row's output, 4 bytes an element
    int64_t weights = 0;          // conv/linear kernels, batch norm scales
    int64_t biases = 0;           // conv/linear biases, batch norm shifts
    int64_t macs = 0;             // multiply-accumulates of conv and linear

    /// "conv", or "conv+relu" with folded activations.
    std::string op() const;
};

/// A report owns its figures and outlives the graph it was made from.
struct CostReport {
    std::string network;
    Shape input;
    std::vector<LayerCost> layers;
    LayerCost totals; // sums; its name is "total" and it has no ops
};

/// Requires shapes (infer_shapes).
CostReport report_costs(const Graph &graph);

/// Multiply-accumulates of one conv or linear node; 0 for other layers.
int64_t macs_of(const Graph &graph, const Node &node);

/// The table, aligned, with thousands separators; figures rounded to the
/// nearest KB, thousand weights and million multiply-accumulates.
std::string format_cost_table(const CostReport &report);

nlohmann::json cost_report_json(const CostReport &report);

} // namespace strata
