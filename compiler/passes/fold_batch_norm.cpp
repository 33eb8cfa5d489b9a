#include "passes/fold_batch_norm.h"

#include "graph_edit.h"

#include <cmath>

namespace strata {

namespace {

// y[c] = x[c] * scale[c] + shift[c], for every channel c.
struct ChannelAffine {
    std::vector<double> scale;
    std::vector<double> shift;
};

const TensorView &stored(const WeightStore &weights, const std::string &name) {
    const TensorView *view = weights.find(name);
    check_internal(view != nullptr, "fold_batch_norm: a layer's tensor is missing from the "
                                    "weights (verify_weights must run first)");
    return *view;
}

// Step 1: the batch norm as a per-channel affine map.
ChannelAffine batch_norm_as_affine(const Node &bn, const WeightStore &weights) {
    const TensorView &gamma = stored(weights, bn.name + ".weight");
    const TensorView &beta = stored(weights, bn.name + ".bias");
    const TensorView &mean = stored(weights, bn.name + ".running_mean");
    const TensorView &var = stored(weights, bn.name + ".running_var");
    double epsilon = bn.attr<BatchNormAttrs>().epsilon;

    size_t channels = static_cast<size_t>(gamma.shape.elements());
    ChannelAffine affine{std::vector<double>(channels), std::vector<double>(channels)};
    for (size_t c = 0; c < channels; ++c) {
        affine.scale[c] = double(gamma.data[c]) / std::sqrt(double(var.data[c]) + epsilon);
        affine.shift[c] = double(beta.data[c]) - double(mean.data[c]) * affine.scale[c];
    }
    return affine;
}

// Step 2: applies `affine` to the output channels of a conv or linear layer.
// Both store their weight with the output channel outermost (OIHW and OI), so
// output channel o owns one contiguous run of elements / O values.
void fold_affine_into_kernel(Node &kernel, const ChannelAffine &affine, WeightStore &weights) {
    const TensorView &weight = stored(weights, kernel.name + ".weight");
    int64_t out_channels = weight.shape.dims.at(0);
    check_internal(static_cast<size_t>(out_channels) == affine.scale.size(),
                   "fold_batch_norm: the batch norm's channels are not the layer's outputs");
    int64_t run = weight.shape.elements() / out_channels;

    Tensor folded_weight(weight.shape);
    for (int64_t o = 0; o < out_channels; ++o) {
        for (int64_t i = o * run; i < (o + 1) * run; ++i) {
            folded_weight.data[i] = static_cast<float>(double(weight.data[i]) * affine.scale[o]);
        }
    }

    // A layer without a bias has b = 0, and gains one.
    bool &has_bias =
        kernel.op == OpKind::Conv ? kernel.attr<ConvAttrs>().bias : kernel.attr<LinearAttrs>().bias;
    const TensorView *bias = has_bias ? &stored(weights, kernel.name + ".bias") : nullptr;
    Tensor folded_bias(Shape{{out_channels}});
    for (int64_t o = 0; o < out_channels; ++o) {
        double b = bias ? double(bias->data[o]) : 0.0;
        folded_bias.data[o] = static_cast<float>(b * affine.scale[o] + affine.shift[o]);
    }

    weights.replace(kernel.name + ".weight", std::move(folded_weight));
    if (has_bias) {
        weights.replace(kernel.name + ".bias", std::move(folded_bias));
    } else {
        weights.add(kernel.name + ".bias", std::move(folded_bias));
        has_bias = true;
    }
}

// The conv or linear layer that `bn` can be folded into, or -1.
NodeId foldable_producer(const Graph &graph, const Node &bn) {
    if (bn.op != OpKind::BatchNorm || !bn.epilogue.empty()) {
        return -1;
    }
    const Node &producer = graph.node(bn.inputs.at(0));
    bool kernel = producer.op == OpKind::Conv || producer.op == OpKind::Linear;
    // Another reader of the producer would see the folded values instead of the
    // raw ones; an epilogue would be applied before the batch norm, not after.
    if (!kernel || !producer.epilogue.empty() || only_reader(graph, producer.id) != bn.id) {
        return -1;
    }
    return producer.id;
}

void erase_batch_norm_tensors(const Graph &graph, const Node &bn, WeightStore &weights) {
    for (const ParameterSpec &spec : parameters_of(graph, bn)) {
        weights.erase(parameter_name(bn, spec));
    }
    // A training counter that verify_weights tolerates only beside a batch norm.
    std::string counter = bn.name + ".num_batches_tracked";
    if (weights.find(counter) != nullptr) {
        weights.erase(counter);
    }
}

} // namespace

int fold_batch_norm(Graph &graph, WeightStore &weights) {
    int folded = 0;
    // remove_node moves the later nodes down, so `id` is advanced only past a kept node.
    for (NodeId id = 1; static_cast<size_t>(id) < graph.nodes.size();) {
        NodeId producer = foldable_producer(graph, graph.node(id));
        if (producer < 0) {
            ++id;
            continue;
        }
        const Node &bn = graph.node(id);
        ChannelAffine affine = batch_norm_as_affine(bn, weights);
        fold_affine_into_kernel(graph.node(producer), affine, weights);
        erase_batch_norm_tensors(graph, bn, weights);
        remove_node(graph, id, producer);
        ++folded;
    }
    return folded;
}

} // namespace strata
