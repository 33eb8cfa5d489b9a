// The graph optimisation pipeline: the rewrites between shape inference and
// lowering, run in a fixed order, each one verified, dumpable and timed.
//
//     remove-noops ─▶ fold-batch-norm ─▶ fuse-epilogues
//
// plan_memory (plan_memory.h) is not part of it: it rewrites nothing, and the
// code generator calls it on the optimised graph; dump_memory_plan prints it.
#pragma once

#include "graph.h"
#include "passes/plan_memory.h"
#include "weights.h"

#include <ostream>
#include <string>
#include <vector>

namespace strata {

struct OptimiseOptions {
    /// Print the graph (graph_text.h) after each of these passes; "all" for every one.
    std::vector<std::string> dump_after;
    /// Print a table of each pass's time and statistics ("fold-batch-norm: 20 folded").
    bool time_passes = false;
    /// Where dumps and the table go; std::cerr when null.
    std::ostream *log = nullptr;
};

/// The pass names that OptimiseOptions::dump_after accepts, in pipeline order,
/// followed by "all".
std::vector<std::string> optimise_pass_names();

/// Rewrites `graph` and `weights` into the form the lowering expects.
///
/// Requires: infer_shapes has run. Throws a UserError, before any pass runs,
/// when `weights` does not match the graph (verify_weights) or dump_after
/// names an unknown pass (the message lists the valid names).
/// Guarantees: after every pass the graph passes verify_graph, each node's
/// shape is what infer_shapes gives it, the output's shape is unchanged,
/// every residual input has its node's shape, and verify_weights holds; a
/// violation is an InternalError naming the pass. The optimised graph
/// computes what the original did (up to float rounding of folded weights).
void optimise(Graph &graph, WeightStore &weights, const OptimiseOptions &options);

/// A memory plan as text: the arena's size, then one line per node saying
/// where its output lives.
std::string dump_memory_plan(const Graph &graph, const MemoryPlan &plan);

} // namespace strata
