#include "cost_report.h"

#include "parameters.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

namespace strata {

std::string LayerCost::op() const {
    std::string text;
    for (OpKind op : ops) {
        text += (text.empty() ? "" : "+") + std::string(op_name(op));
    }
    return text;
}

namespace {

constexpr int64_t kBytesPerElement = 4;

void add_parameters(const Graph &graph, const Node &node, LayerCost &row) {
    for (const ParameterSpec &p : parameters_of(graph, node)) {
        if (p.role == ParameterRole::Weight) {
            row.weights += p.shape.elements();
        } else if (p.role == ParameterRole::Bias) {
            row.biases += p.shape.elements();
        }
    }
}

// "1,234,567"
std::string grouped(int64_t value) {
    std::string digits = std::to_string(value < 0 ? -value : value);
    std::string out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) {
            out += ',';
        }
        out += digits[i];
    }
    return value < 0 ? "-" + out : out;
}

std::string rounded(int64_t value, double unit) {
    return grouped(std::llround(static_cast<double>(value) / unit));
}

// A shape without its batch dimension, as the course writes it: 64x56x56.
std::string shape_text(const Shape &shape) {
    Shape rest{{shape.dims.begin() + 1, shape.dims.end()}};
    return rest.str();
}

std::string pair_text(const Pair &p) {
    return p.h == p.w ? std::to_string(p.h) : std::to_string(p.h) + "x" + std::to_string(p.w);
}

struct WindowColumns {
    std::string kernel, stride, pad;
};

WindowColumns window_columns(const std::optional<Window> &w) {
    if (!w) {
        return {};
    }
    std::string pad = pair_text(w->pad_begin);
    if (!(w->pad_begin == w->pad_end)) {
        pad += "/" + pair_text(w->pad_end);
    }
    return {pair_text(w->kernel), pair_text(w->stride), pad};
}

std::optional<Window> window_of(const Node &node) {
    if (node.op == OpKind::Conv) {
        return node.attr<ConvAttrs>().window;
    }
    if (node.op == OpKind::MaxPool || node.op == OpKind::AvgPool) {
        return node.attr<PoolAttrs>().window;
    }
    return std::nullopt;
}

} // namespace

int64_t macs_of(const Graph &graph, const Node &node) {
    const Shape &in = graph.node(node.inputs.empty() ? 0 : node.inputs[0]).shape;
    if (node.op == OpKind::Conv) {
        const ConvAttrs &conv = node.attr<ConvAttrs>();
        return node.shape.elements() * (in.dims[1] / conv.groups) * conv.window.kernel.h *
               conv.window.kernel.w;
    }
    if (node.op == OpKind::Linear) {
        return node.shape.elements() * in.dims[1];
    }
    return 0;
}

CostReport report_costs(const Graph &graph) {
    CostReport report;
    report.network = graph.name;
    report.input = graph.input().shape;
    report.totals.name = "total";
    auto consumers = graph.consumers();
    std::vector<int> row_of(graph.nodes.size(), -1);
    for (const Node &node : graph.nodes) {
        if (node.op == OpKind::Input) {
            continue;
        }
        // An in-place activation: its input is read by nothing else.
        NodeId producer = node.inputs.empty() ? -1 : node.inputs[0];
        if (is_elementwise_unary(node.op) && producer >= 0 && row_of[producer] >= 0 &&
            consumers[producer].size() == 1) {
            LayerCost &row = report.layers[row_of[producer]];
            row.ops.push_back(node.op);
            row.output = node.shape;
            row_of[node.id] = row_of[producer];
            continue;
        }
        LayerCost row;
        row.name = node.name;
        row.ops.push_back(node.op);
        row.output = node.shape;
        row.window = window_of(node);
        row.memory_bytes = node.shape.elements() * kBytesPerElement;
        row.macs = macs_of(graph, node);
        add_parameters(graph, node, row);
        row_of[node.id] = static_cast<int>(report.layers.size());
        report.layers.push_back(std::move(row));
    }
    for (const LayerCost &row : report.layers) {
        report.totals.memory_bytes += row.memory_bytes;
        report.totals.weights += row.weights;
        report.totals.biases += row.biases;
        report.totals.macs += row.macs;
    }
    return report;
}

std::string format_cost_table(const CostReport &report) {
    std::vector<std::vector<std::string>> cells;
    cells.push_back({"layer", "op", "output", "kernel", "stride", "pad", "memory (KB)",
                     "weights (k)", "MACs (M)"});
    for (const LayerCost &row : report.layers) {
        WindowColumns w = window_columns(row.window);
        cells.push_back({row.name, row.op(), shape_text(row.output), w.kernel, w.stride, w.pad,
                         rounded(row.memory_bytes, 1024), rounded(row.weights, 1000),
                         rounded(row.macs, 1e6)});
    }
    const LayerCost &t = report.totals;
    cells.push_back({"total", "", "", "", "", "", rounded(t.memory_bytes, 1024),
                     rounded(t.weights, 1000), rounded(t.macs, 1e6)});

    std::vector<size_t> width(cells[0].size(), 0);
    for (const auto &line : cells) {
        for (size_t c = 0; c < line.size(); ++c) {
            width[c] = std::max(width[c], line[c].size());
        }
    }
    std::ostringstream out;
    out << report.network << ": input " << shape_text(report.input) << "\n\n";
    for (size_t r = 0; r < cells.size(); ++r) {
        if (r + 1 == cells.size()) {
            out << "\n";
        }
        std::string line;
        for (size_t c = 0; c < cells[r].size(); ++c) {
            // Names and operators read left to right; figures line up right.
            const std::string &cell = cells[r][c];
            std::string padding(width[c] - cell.size(), ' ');
            line += (c ? "  " : "") + (c < 2 ? cell + padding : padding + cell);
        }
        line.erase(line.find_last_not_of(' ') + 1);
        out << line << "\n";
    }
    out << "\nparameters: " << grouped(t.weights) << " weights + " << grouped(t.biases)
        << " biases = " << grouped(t.weights + t.biases) << "\n";
    out << "multiply-accumulates: " << grouped(t.macs) << "\n";
    out << "activation memory: " << grouped(t.memory_bytes) << " bytes, every layer's output "
        << "counted once (4 bytes an element)\n";
    return out.str();
}

nlohmann::json cost_report_json(const CostReport &report) {
    auto counts = [](const LayerCost &row) {
        return nlohmann::json{{"memory_bytes", row.memory_bytes},
                              {"weights", row.weights},
                              {"biases", row.biases},
                              {"macs", row.macs}};
    };
    nlohmann::json layers = nlohmann::json::array();
    for (const LayerCost &row : report.layers) {
        nlohmann::json entry = counts(row);
        entry["name"] = row.name;
        entry["op"] = op_name(row.ops.front());
        nlohmann::json folded = nlohmann::json::array();
        for (size_t i = 1; i < row.ops.size(); ++i) {
            folded.push_back(op_name(row.ops[i]));
        }
        entry["activations"] = folded;
        entry["output_shape"] = row.output.dims;
        layers.push_back(entry);
    }
    return nlohmann::json{{"network", report.network},
                          {"input_shape", report.input.dims},
                          {"layers", layers},
                          {"totals", counts(report.totals)}};
}

} // namespace strata
