#include "infer_shapes.h"

#include "parameters.h"

namespace strata {

namespace {

// No tensor may exceed this many elements (16 GiB of float32): beyond it the
// description is almost certainly a mistake, and sizes would risk overflow.
constexpr int64_t kMaxElements = int64_t{1} << 32;

std::string from(const Graph &graph, NodeId id) {
    const Node &n = graph.node(id);
    return describe(n) + " gives " + n.shape.str();
}

const Shape &input_shape(const Graph &graph, const Node &node, size_t i = 0) {
    return graph.node(node.inputs.at(i)).shape;
}

void require_rank(const Graph &graph, const Node &node, std::initializer_list<int> ranks) {
    const Shape &in = input_shape(graph, node);
    for (int r : ranks) {
        if (in.rank() == r) {
            return;
        }
    }
    bool wants_maps = *ranks.begin() == 4;
    throw node_error(node,
                     describe(node) +
                         (wants_maps ? " needs feature maps (NxCxHxW), but "
                                     : " needs a flat vector (NxF), but ") +
                         from(graph, node.inputs[0]),
                     wants_maps ? "it cannot follow 'flatten' or 'linear'"
                                : "add 'flatten' before it, or 'global_avgpool' then 'flatten'");
}

Shape window_shape(const Graph &graph, const Node &node, const Window &w, int64_t channels) {
    const Shape &in = input_shape(graph, node);
    int64_t h = window_output_size(in.dims[2], w.kernel.h, w.stride.h, w.pad_begin.h, w.pad_end.h,
                                   w.dilation.h, w.ceil_mode);
    int64_t wd = window_output_size(in.dims[3], w.kernel.w, w.stride.w, w.pad_begin.w, w.pad_end.w,
                                    w.dilation.w, w.ceil_mode);
    if (h < 1 || wd < 1) {
        throw node_error(node,
                         "the " + std::to_string(w.kernel.h) + "x" + std::to_string(w.kernel.w) +
                             " window of " + describe(node) + " (dilation " +
                             std::to_string(w.dilation.h) + "x" + std::to_string(w.dilation.w) +
                             ", padding " + std::to_string(w.pad_begin.h) + "x" +
                             std::to_string(w.pad_begin.w) +
                             ") does not fit in its input: " + from(graph, node.inputs[0]),
                         "use a smaller kernel or more padding, or remove a downsampling layer "
                         "above it");
    }
    return Shape{{in.dims[0], channels, h, wd}};
}

void require_divisible(const Graph &graph, const Node &node, int64_t channels, int64_t by,
                       const std::string &what) {
    if (channels % by != 0) {
        throw node_error(node, describe(node) + " has " + what + "=" + std::to_string(by) +
                                   ", which does not divide its " + std::to_string(channels) +
                                   " input channels: " + from(graph, node.inputs[0]));
    }
}

Shape same_shapes(const Graph &graph, const Node &node) {
    const Shape &first = input_shape(graph, node);
    for (size_t i = 1; i < node.inputs.size(); ++i) {
        if (input_shape(graph, node, i) != first) {
            throw node_error(node,
                             describe(node) + " needs equal shapes, but " +
                                 from(graph, node.inputs[0]) + " and " +
                                 from(graph, node.inputs[i]),
                             node.op == OpKind::Add
                                 ? "a residual whose body changes the shape needs a projection "
                                   "shortcut: 'shortcut { conv ... }'"
                                 : "");
        }
    }
    return first;
}

Shape concat_shape(const Graph &graph, const Node &node) {
    Shape out = input_shape(graph, node);
    out.dims[1] = 0;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
        const Shape &s = input_shape(graph, node, i);
        bool fits = s.rank() == out.rank();
        for (int d = 0; fits && d < s.rank(); ++d) {
            fits = d == 1 || s.dims[d] == out.dims[d];
        }
        if (!fits) {
            throw node_error(node, describe(node) +
                                       " joins along channels and needs all other dimensions "
                                       "equal, but " +
                                       from(graph, node.inputs[0]) + " and " +
                                       from(graph, node.inputs[i]));
        }
        out.dims[1] += s.dims[1];
    }
    return out;
}

Shape infer(const Graph &graph, const Node &node) {
    switch (node.op) {
    case OpKind::Input: return node.shape;
    case OpKind::Conv: {
        require_rank(graph, node, {4});
        const ConvAttrs &conv = node.attr<ConvAttrs>();
        require_divisible(graph, node, input_shape(graph, node).dims[1], conv.groups, "groups");
        return window_shape(graph, node, conv.window, conv.out_channels);
    }
    case OpKind::MaxPool:
    case OpKind::AvgPool:
        require_rank(graph, node, {4});
        return window_shape(graph, node, node.attr<PoolAttrs>().window,
                            input_shape(graph, node).dims[1]);
    case OpKind::GlobalAvgPool:
    case OpKind::GlobalMaxPool: {
        require_rank(graph, node, {4});
        const Shape &in = input_shape(graph, node);
        return Shape{{in.dims[0], in.dims[1], 1, 1}};
    }
    case OpKind::Lrn:
    case OpKind::Shuffle:
        require_rank(graph, node, {4});
        if (node.op == OpKind::Shuffle) {
            require_divisible(graph, node, input_shape(graph, node).dims[1],
                              node.attr<ShuffleAttrs>().groups, "groups");
        }
        return input_shape(graph, node);
    case OpKind::BatchNorm:
    case OpKind::Softmax: require_rank(graph, node, {4, 2}); return input_shape(graph, node);
    case OpKind::Relu:
    case OpKind::Relu6:
    case OpKind::LeakyRelu:
    case OpKind::Sigmoid:
    case OpKind::HardSwish:
    case OpKind::Dropout:
    case OpKind::Identity: return input_shape(graph, node);
    case OpKind::Linear: {
        require_rank(graph, node, {2});
        const Shape &in = input_shape(graph, node);
        return Shape{{in.dims[0], node.attr<LinearAttrs>().out_features}};
    }
    case OpKind::Flatten: {
        const Shape &in = input_shape(graph, node);
        return Shape{{in.dims[0], in.elements() / in.dims[0]}};
    }
    case OpKind::Add: return same_shapes(graph, node);
    case OpKind::Concat: return concat_shape(graph, node);
    case OpKind::Slice: {
        const SliceAttrs &slice = node.attr<SliceAttrs>();
        Shape out = input_shape(graph, node);
        require_divisible(graph, node, out.dims.at(1), slice.parts, "parts");
        out.dims[1] /= slice.parts;
        return out;
    }
    }
    throw InternalError("infer_shapes: unknown operator");
}

// Multiplies step by step so that the check itself cannot overflow.
bool too_large(const Shape &shape) {
    int64_t elements = 1;
    for (int64_t d : shape.dims) {
        check_internal(d >= 1, "inferred dimensions are positive");
        if (elements > kMaxElements / d) {
            return true;
        }
        elements *= d;
    }
    return false;
}

} // namespace

void infer_shapes(Graph &graph) {
    verify_graph(graph);
    for (Node &node : graph.nodes) {
        Shape shape = infer(graph, node);
        if (too_large(shape)) {
            throw node_error(node, "the output of " + describe(node) + ", " + shape.str() +
                                       ", has more than 2^32 elements");
        }
        node.shape = std::move(shape);
        for (const ParameterSpec &p : parameters_of(graph, node)) {
            if (too_large(p.shape)) {
                throw node_error(node, "the " + p.suffix + " of " + describe(node) + ", " +
                                           p.shape.str() + ", has more than 2^32 elements");
            }
        }
    }
}

} // namespace strata
