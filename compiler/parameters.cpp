#include "parameters.h"

namespace strata {

std::vector<ParameterSpec> parameters_of(const Graph &graph, const Node &node) {
    switch (node.op) {
    case OpKind::Conv: {
        const ConvAttrs &conv = node.attr<ConvAttrs>();
        int64_t in_channels = graph.node(node.inputs.at(0)).shape.dims.at(1);
        std::vector<ParameterSpec> specs = {{"weight",
                                             Shape{{conv.out_channels, in_channels / conv.groups,
                                                    conv.window.kernel.h, conv.window.kernel.w}},
                                             ParameterRole::Weight}};
        if (conv.bias) {
            specs.push_back({"bias", Shape{{conv.out_channels}}, ParameterRole::Bias});
        }
        return specs;
    }
    case OpKind::Linear: {
        const LinearAttrs &linear = node.attr<LinearAttrs>();
        int64_t in_features = graph.node(node.inputs.at(0)).shape.dims.at(1);
        std::vector<ParameterSpec> specs = {
            {"weight", Shape{{linear.out_features, in_features}}, ParameterRole::Weight}};
        if (linear.bias) {
            specs.push_back({"bias", Shape{{linear.out_features}}, ParameterRole::Bias});
        }
        return specs;
    }
    case OpKind::BatchNorm: {
        Shape channels{{graph.node(node.inputs.at(0)).shape.dims.at(1)}};
        return {{"weight", channels, ParameterRole::Weight},
                {"bias", channels, ParameterRole::Bias},
                {"running_mean", channels, ParameterRole::Statistic},
                {"running_var", channels, ParameterRole::Statistic}};
    }
    default: return {};
    }
}

} // namespace strata
