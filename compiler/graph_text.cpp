#include "graph_text.h"

#include <sstream>

namespace strata {

namespace {

// "3" when both sides agree, "3x5" otherwise, as the language writes sizes.
std::string pair_text(const Pair &p) {
    return p.h == p.w ? std::to_string(p.h) : std::to_string(p.h) + "x" + std::to_string(p.w);
}

// Doubles in the shortest form that round-trips common values: 1e-05, 0.75.
std::string number_text(double value) {
    std::ostringstream out;
    out << value;
    return out.str();
}

std::string window_text(const Window &w) {
    std::string text = std::to_string(w.kernel.h) + "x" + std::to_string(w.kernel.w) +
                       " stride=" + pair_text(w.stride) + " pad=" + pair_text(w.pad_begin);
    if (!(w.pad_end == w.pad_begin)) {
        text += " pad_end=" + pair_text(w.pad_end);
    }
    if (!(w.dilation == Pair{1, 1})) {
        text += " dilation=" + pair_text(w.dilation);
    }
    if (w.ceil_mode) {
        text += " ceil";
    }
    return text;
}

std::string attributes_text(const Node &node) {
    switch (node.op) {
    case OpKind::Conv: {
        const ConvAttrs &conv = node.attr<ConvAttrs>();
        return std::to_string(conv.out_channels) + " " + window_text(conv.window) +
               " groups=" + std::to_string(conv.groups) + (conv.bias ? " bias" : " nobias");
    }
    case OpKind::MaxPool:
    case OpKind::AvgPool: {
        const PoolAttrs &pool = node.attr<PoolAttrs>();
        bool excludes_pad = node.op == OpKind::AvgPool && !pool.count_include_pad;
        return window_text(pool.window) + (excludes_pad ? " exclude_pad" : "");
    }
    case OpKind::BatchNorm: return "eps=" + number_text(node.attr<BatchNormAttrs>().epsilon);
    case OpKind::LeakyRelu: return "slope=" + number_text(node.attr<LeakyReluAttrs>().slope);
    case OpKind::Linear: {
        const LinearAttrs &linear = node.attr<LinearAttrs>();
        return std::to_string(linear.out_features) + (linear.bias ? " bias" : " nobias");
    }
    case OpKind::Dropout: return "p=" + number_text(node.attr<DropoutAttrs>().probability);
    case OpKind::Slice: {
        const SliceAttrs &slice = node.attr<SliceAttrs>();
        return "index=" + std::to_string(slice.index) + " parts=" + std::to_string(slice.parts);
    }
    case OpKind::Shuffle: return "groups=" + std::to_string(node.attr<ShuffleAttrs>().groups);
    case OpKind::Lrn: {
        const LrnAttrs &lrn = node.attr<LrnAttrs>();
        return "size=" + std::to_string(lrn.size) + " alpha=" + number_text(lrn.alpha) +
               " beta=" + number_text(lrn.beta) + " k=" + number_text(lrn.k);
    }
    default: return "";
    }
}

std::string activation_text(const Epilogue &epilogue) {
    switch (epilogue.activation) {
    case Activation::None: return "";
    case Activation::Relu: return "+relu";
    case Activation::Relu6: return "+relu6";
    case Activation::LeakyRelu: return "+leaky_relu(" + number_text(epilogue.slope) + ")";
    case Activation::Sigmoid: return "+sigmoid";
    case Activation::HardSwish: return "+hardswish";
    }
    throw InternalError("graph_to_text: unknown activation");
}

std::string node_text(const Node &node) {
    std::string text = "%" + std::to_string(node.id) + " " + node.name + " = " + op_name(node.op);
    if (node.op != OpKind::Input) {
        text += "(";
        for (size_t i = 0; i < node.inputs.size(); ++i) {
            text += (i ? ", %" : "%") + std::to_string(node.inputs[i]);
        }
        text += ")";
    }

    // Attributes, then the epilogue in the order it is applied.
    for (const std::string &part :
         {attributes_text(node), std::string(node.epilogue.residual ? "+residual" : ""),
          activation_text(node.epilogue)}) {
        if (!part.empty()) {
            text += " " + part;
        }
    }
    if (!node.shape.dims.empty()) {
        text += " : " + node.shape.str();
    }
    return text;
}

} // namespace

std::string graph_to_text(const Graph &graph) {
    std::string text = "network " + graph.name + "\n";
    for (const Node &node : graph.nodes) {
        text += node_text(node) + "\n";
    }
    return text + "output %" + std::to_string(graph.output) + "\n";
}

} // namespace strata
