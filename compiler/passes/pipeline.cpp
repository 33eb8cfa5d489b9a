#include "passes/pipeline.h"

#include "graph_text.h"
#include "infer_shapes.h"
#include "passes/fold_batch_norm.h"
#include "passes/fuse_epilogues.h"
#include "passes/remove_noops.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>

namespace strata {

namespace {

const std::vector<std::string> kPassNames = {"remove-noops", "fold-batch-norm", "fuse-epilogues"};

std::string joined(const std::vector<std::string> &names) {
    std::string text;
    for (size_t i = 0; i < names.size(); ++i) {
        text += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
    }
    return text;
}

void check_dump_names(const std::vector<std::string> &dump_after) {
    std::vector<std::string> valid = optimise_pass_names();
    for (const std::string &name : dump_after) {
        if (std::find(valid.begin(), valid.end(), name) == valid.end()) {
            throw UserError("--dump-after names an unknown pass '" + name + "'",
                            "the passes are " + joined(valid));
        }
    }
}

// "20 folded", "1 residual" / "3 residuals".
std::string counted(int n, const std::string &what, bool plural_s = false) {
    return std::to_string(n) + " " + what + (plural_s && n != 1 ? "s" : "");
}

// A failure after a pass is the pass's bug, whatever the check threw.
[[noreturn]] void blame(const std::string &pass, const std::string &problem) {
    throw InternalError("after pass " + pass + ": " + problem);
}

// The checks the pipeline's header promises after every pass.
void verify_after(const std::string &pass, const Graph &graph, const WeightStore &weights,
                  const Shape &output_shape) {
    Graph reinferred = graph;
    try {
        verify_graph(graph);
        infer_shapes(reinferred);
        verify_weights(graph, weights);
    } catch (const UserError &error) {
        blame(pass, error.message());
    } catch (const InternalError &error) {
        // Keep the broken invariant, without the "internal error (...): " prefix.
        std::string what = error.what();
        blame(pass, what.substr(what.find(": ") + 2));
    }
    for (const Node &node : graph.nodes) {
        if (node.shape != reinferred.node(node.id).shape) {
            blame(pass, describe(node) + " has shape " + node.shape.str() + " but infers " +
                            reinferred.node(node.id).shape.str());
        }
        if (node.epilogue.residual &&
            (node.inputs.size() < 2 || graph.node(node.inputs.back()).shape != node.shape)) {
            blame(pass, describe(node) + " has a residual input that is not its own shape");
        }
    }
    if (graph.output_node().shape != output_shape) {
        blame(pass, "the output's shape changed from " + output_shape.str() + " to " +
                        graph.output_node().shape.str());
    }
}

// Runs passes one by one, with the checks, dumps and timing each one gets.
class PassRunner {
  public:
    PassRunner(Graph &graph, const WeightStore &weights, const OptimiseOptions &options)
        : graph_(graph), weights_(weights), options_(options),
          log_(options.log ? *options.log : std::cerr), output_shape_(graph.output_node().shape) {}

    // `pass` rewrites the graph and returns its statistics.
    void run(const std::string &name, const std::function<std::string()> &pass) {
        check_internal(std::find(kPassNames.begin(), kPassNames.end(), name) != kPassNames.end(),
                       "every pass the pipeline runs must be listed in kPassNames");
        auto start = Clock::now();
        std::string statistics = pass();
        auto passed = Clock::now();
        verify_after(name, graph_, weights_, output_shape_);
        verify_seconds_ += seconds(passed, Clock::now());
        records_.push_back({name, seconds(start, passed), statistics});

        if (dumps(name)) {
            log_ << "# after " << name << " (" << statistics << ")\n" << graph_to_text(graph_);
        }
    }

    void report_times() const {
        if (!options_.time_passes) {
            return;
        }
        double total = verify_seconds_;
        log_ << "pass               time (ms)  statistics\n";
        for (const Record &record : records_) {
            row(record.name, record.seconds, record.statistics);
            total += record.seconds;
        }
        row("(verification)", verify_seconds_, "");
        row("total", total, "");
    }

  private:
    using Clock = std::chrono::steady_clock;

    struct Record {
        std::string name;
        double seconds = 0;
        std::string statistics;
    };

    static double seconds(Clock::time_point from, Clock::time_point to) {
        return std::chrono::duration<double>(to - from).count();
    }

    bool dumps(const std::string &name) const {
        const std::vector<std::string> &wanted = options_.dump_after;
        return std::find(wanted.begin(), wanted.end(), name) != wanted.end() ||
               std::find(wanted.begin(), wanted.end(), "all") != wanted.end();
    }

    void row(const std::string &name, double seconds, const std::string &statistics) const {
        char line[160];
        std::snprintf(line, sizeof line, "%-16s %11.3f", name.c_str(), seconds * 1e3);
        log_ << line << (statistics.empty() ? "" : "  " + statistics) << "\n";
    }

    Graph &graph_;
    const WeightStore &weights_;
    const OptimiseOptions &options_;
    std::ostream &log_;
    Shape output_shape_;
    std::vector<Record> records_;
    double verify_seconds_ = 0;
};

} // namespace

std::vector<std::string> optimise_pass_names() {
    std::vector<std::string> names = kPassNames;
    names.push_back("all");
    return names;
}

void optimise(Graph &graph, WeightStore &weights, const OptimiseOptions &options) {
    check_dump_names(options.dump_after);
    verify_weights(graph, weights);
    PassRunner runner(graph, weights, options);

    // Dropout and identity first: standing between a conv and its batch norm
    // or activation (conv, dropout, relu), they would hide the pair from the
    // passes below.
    runner.run("remove-noops", [&] { return counted(remove_noops(graph), "removed"); });

    // Folding before fusion: a batch norm folds only into a conv whose output
    // is the raw convolution, before an activation or an add is fused onto it;
    // and once folded, conv + add + relu are adjacent for the fusion below.
    runner.run("fold-batch-norm",
               [&] { return counted(fold_batch_norm(graph, weights), "folded"); });

    // Residual adds before activations (inside the pass): the epilogue adds,
    // then activates, which is the order ResNet's block end computes them.
    runner.run("fuse-epilogues", [&] {
        EpilogueFusionCounts counts = fuse_epilogues(graph);
        return counted(counts.residuals, "residual", true) + ", " +
               counted(counts.activations, "activation", true);
    });

    runner.report_times();
}

std::string dump_memory_plan(const Graph &graph, const MemoryPlan &plan) {
    check_internal(plan.placements.size() == graph.nodes.size(),
                   "dump_memory_plan: the plan is for another graph");
    std::string text = "memory plan: arena " + std::to_string(plan.arena_bytes) + " bytes, " +
                       std::to_string(plan.unshared_bytes) + " without reuse\n";
    for (const Node &node : graph.nodes) {
        const Placement &p = plan.placements[node.id];
        text += "%" + std::to_string(node.id) + " " + node.name + ": ";
        switch (p.storage) {
        case Storage::NetworkInput: text += "network input"; break;
        case Storage::NetworkOutput: text += "network output"; break;
        case Storage::Arena:
            text += "arena [" + std::to_string(p.offset) + ", " +
                    std::to_string(p.offset + p.bytes) + ")";
            break;
        case Storage::Alias:
            text += "alias of %" + std::to_string(p.base) + " at +" + std::to_string(p.offset);
            break;
        }
        text += ", " + std::to_string(p.bytes) + " bytes";
        const Border border = storage_border(graph, node.id);
        if (border.any()) {
            text += " with a zero border of " + std::to_string(border.x) + " columns and " +
                    std::to_string(border.y) + " rows";
        }
        text += "\n";
    }
    return text;
}

} // namespace strata
