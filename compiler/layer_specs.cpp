#include "layer_specs.h"

#include "edit_distance.h"

#include <algorithm>
#include <map>

namespace strata {

namespace {

const Value kNoPad = int64_t{0};
const Value kOne = int64_t{1};

std::vector<LayerSpec> make_specs() {
    const ArgSpec stride{"stride", ArgType::Pair, "a stride such as 2 or 2x2", kOne};
    const ArgSpec pad{"pad", ArgType::Padding, "a padding such as 1 or 1x2", kNoPad};
    const ArgSpec dilation{"dilation", ArgType::Pair, "a dilation such as 2 or 2x2", kOne};
    const ArgSpec kernel{"kernel", ArgType::Pair, "a kernel size such as 3x3", std::nullopt};
    // A pool's stride defaults to its kernel, as in PyTorch.
    const ArgSpec pool_stride{"stride", ArgType::Pair, "a stride such as 2 or 2x2", std::nullopt,
                              true};
    const ArgSpec ceil{"ceil", ArgType::Bool, "true or false", Value{false}};
    const auto none = std::vector<ArgSpec>{};
    return {
        {"conv",
         OpKind::Conv,
         {{"out", ArgType::Count, "an output channel count", std::nullopt},
          kernel,
          stride,
          pad,
          dilation,
          {"groups", ArgType::Count, "a group count", kOne},
          {"bias", ArgType::Bool, "true or false", Value{true}}},
         1,
         1,
         "conv 64 3x3 stride=2 pad=1 bias=false"},
        {"maxpool",
         OpKind::MaxPool,
         {kernel, pool_stride, pad, dilation, ceil},
         1,
         1,
         "maxpool 3x3 stride=2 pad=1"},
        {"avgpool",
         OpKind::AvgPool,
         {kernel,
          pool_stride,
          pad,
          ceil,
          {"count_include_pad", ArgType::Bool, "true or false", Value{true}}},
         1,
         1,
         "avgpool 3x3 stride=2 pad=1"},
        {"global_avgpool", OpKind::GlobalAvgPool, none, 1, 1, "global_avgpool"},
        {"global_maxpool", OpKind::GlobalMaxPool, none, 1, 1, "global_maxpool"},
        {"batchnorm",
         OpKind::BatchNorm,
         {{"eps", ArgType::Real, "a small positive number such as 1e-5", Value{1e-5}}},
         1,
         1,
         "batchnorm eps=1e-3"},
        {"relu", OpKind::Relu, none, 1, 1, "relu"},
        {"relu6", OpKind::Relu6, none, 1, 1, "relu6"},
        {"leaky_relu",
         OpKind::LeakyRelu,
         {{"slope", ArgType::Real, "the negative slope, such as 0.01", Value{0.01}}},
         1,
         1,
         "leaky_relu slope=0.1"},
        {"sigmoid", OpKind::Sigmoid, none, 1, 1, "sigmoid"},
        {"hardswish", OpKind::HardSwish, none, 1, 1, "hardswish"},
        {"linear",
         OpKind::Linear,
         {{"out", ArgType::Count, "an output feature count", std::nullopt},
          {"bias", ArgType::Bool, "true or false", Value{true}}},
         1,
         1,
         "linear 1000"},
        {"flatten", OpKind::Flatten, none, 1, 1, "flatten"},
        {"dropout",
         OpKind::Dropout,
         {{"p", ArgType::Real, "a probability such as 0.5", Value{0.5}}},
         1,
         1,
         "dropout p=0.2"},
        {"identity", OpKind::Identity, none, 1, 1, "identity"},
        {"add", OpKind::Add, none, 2, -1, "add <- a, b"},
        {"concat", OpKind::Concat, none, 2, -1, "concat <- a, b"},
        {"split",
         OpKind::Slice,
         {{"parts", ArgType::Count, "a number of equal channel parts", std::nullopt}},
         1,
         1,
         "s: split 2"},
        {"shuffle",
         OpKind::Shuffle,
         {{"groups", ArgType::Count, "a group count", std::nullopt}},
         1,
         1,
         "shuffle groups=3"},
        {"softmax", OpKind::Softmax, none, 1, 1, "softmax"},
        {"lrn",
         OpKind::Lrn,
         {{"size", ArgType::Count, "a window size in channels", Value{int64_t{5}}},
          {"alpha", ArgType::Real, "a number such as 1e-4", Value{1e-4}},
          {"beta", ArgType::Real, "a number such as 0.75", Value{0.75}},
          {"k", ArgType::Real, "a number such as 2", Value{1.0}}},
         1,
         1,
         "lrn size=5 alpha=1e-4 beta=0.75 k=2"},
    };
}

std::string argument_list(const LayerSpec &spec) {
    std::string list;
    for (const ArgSpec &arg : spec.args) {
        list += (list.empty() ? "" : ", ") + std::string(arg.name);
    }
    return list.empty() ? "none" : list;
}

struct BoundArg {
    Value value;
    SourceLocation location;
    std::string text;
};

// Converts and range-checks one argument value against its spec.
Value check_arg(const LayerSpec &spec, const ArgSpec &arg, const Value &value,
                const SourceLocation &where, const std::string &text) {
    auto fail = [&]() -> UserError {
        return UserError(where,
                         std::string(spec.name) + " expects " + arg.description + " for '" +
                             arg.name + "', got '" + text + "'",
                         std::string("for example: ") + spec.example);
    };
    switch (arg.type) {
    case ArgType::Count: {
        const auto *i = std::get_if<int64_t>(&value);
        if (!i || *i <= 0) {
            throw fail();
        }
        return value;
    }
    case ArgType::Pair:
    case ArgType::Padding: {
        int64_t low = arg.type == ArgType::Pair ? 1 : 0;
        if (const auto *i = std::get_if<int64_t>(&value)) {
            if (*i < low) {
                throw fail();
            }
            return std::vector<int64_t>{*i, *i};
        }
        const auto *dims = std::get_if<std::vector<int64_t>>(&value);
        if (!dims || dims->size() != 2 || (*dims)[0] < low || (*dims)[1] < low) {
            throw fail();
        }
        return value;
    }
    case ArgType::Bool:
        if (!std::holds_alternative<bool>(value)) {
            throw fail();
        }
        return value;
    case ArgType::Real:
        if (const auto *i = std::get_if<int64_t>(&value)) {
            return static_cast<double>(*i);
        }
        if (!std::holds_alternative<double>(value)) {
            throw fail();
        }
        return value;
    }
    throw InternalError("check_arg: unknown argument type");
}

std::map<std::string, BoundArg> bind(const LayerSpec &spec, const Statement &call,
                                     const Environment &env) {
    std::map<std::string, BoundArg> bound;
    size_t positional = 0;
    for (const Argument &argument : call.arguments) {
        const ArgSpec *arg = nullptr;
        SourceLocation where = argument.value->location;
        if (argument.name.empty()) {
            if (positional >= spec.args.size()) {
                throw UserError(where,
                                std::string(spec.name) + " takes at most " +
                                    std::to_string(spec.args.size()) + " positional arguments (" +
                                    argument_list(spec) + "), got another: '" +
                                    argument.value->text + "'",
                                std::string("for example: ") + spec.example);
            }
            arg = &spec.args[positional++];
        } else {
            for (const ArgSpec &candidate : spec.args) {
                if (argument.name == candidate.name) {
                    arg = &candidate;
                }
            }
            if (!arg) {
                // Suggest the nearest argument, the first of equals, if any is near.
                std::string help = "its arguments are: " + argument_list(spec);
                const char *nearest = nullptr;
                size_t nearest_distance = 3;
                for (const ArgSpec &candidate : spec.args) {
                    size_t distance = edit_distance(argument.name, candidate.name);
                    if (distance < nearest_distance) {
                        nearest = candidate.name;
                        nearest_distance = distance;
                    }
                }
                if (nearest) {
                    help = "did you mean '" + std::string(nearest) + "'? " + help;
                }
                throw UserError(argument.name_location,
                                std::string(spec.name) + " has no argument '" + argument.name + "'",
                                help);
            }
        }
        if (bound.count(arg->name)) {
            throw UserError(argument.name.empty() ? where : argument.name_location,
                            std::string("argument '") + arg->name + "' of " + spec.name +
                                " is given twice");
        }
        Value value = evaluate(*argument.value, env);
        bound[arg->name] = {check_arg(spec, *arg, value, where, value_text(value)), where,
                            argument.value->text};
    }
    for (const ArgSpec &arg : spec.args) {
        if (bound.count(arg.name)) {
            continue;
        }
        if (arg.default_value) {
            bound[arg.name] = {check_arg(spec, arg, *arg.default_value, call.callee_location, ""),
                               call.callee_location, ""};
        } else if (!arg.computed) {
            throw UserError(call.callee_location,
                            std::string(spec.name) + " needs " + arg.description + " ('" +
                                arg.name + "')",
                            std::string("for example: ") + spec.example);
        }
    }
    return bound;
}

Pair pair_of(const std::map<std::string, BoundArg> &args, const char *name) {
    const auto &dims = std::get<std::vector<int64_t>>(args.at(name).value);
    return Pair{dims[0], dims[1]};
}

Window window_of(const std::map<std::string, BoundArg> &args) {
    Window w;
    w.kernel = pair_of(args, "kernel");
    w.stride = args.count("stride") ? pair_of(args, "stride") : w.kernel;
    w.pad_begin = pair_of(args, "pad");
    w.pad_end = w.pad_begin;
    if (args.count("dilation")) {
        w.dilation = pair_of(args, "dilation");
    }
    if (args.count("ceil")) {
        w.ceil_mode = std::get<bool>(args.at("ceil").value);
    }
    return w;
}

double real_in(const std::map<std::string, BoundArg> &args, const char *name, double low,
               double high, bool low_open, const std::string &layer, const std::string &range) {
    const BoundArg &arg = args.at(name);
    double v = std::get<double>(arg.value);
    if (!(v <= high) || v < low || (low_open && v == low)) {
        throw UserError(arg.location, layer + " needs " + name + " " + range + ", got '" +
                                          value_text(arg.value) + "'");
    }
    return v;
}

} // namespace

const std::vector<LayerSpec> &layer_specs() {
    static const std::vector<LayerSpec> specs = make_specs();
    return specs;
}

const LayerSpec *find_layer_spec(const std::string &name) {
    for (const LayerSpec &spec : layer_specs()) {
        if (name == spec.name) {
            return &spec;
        }
    }
    return nullptr;
}

Node build_layer(const LayerSpec &spec, const Statement &call, const Environment &env) {
    auto args = bind(spec, call, env);
    Node node;
    node.op = spec.op;
    node.location = call.location;
    auto count = [&](const char *name) { return std::get<int64_t>(args.at(name).value); };
    auto flag = [&](const char *name) { return std::get<bool>(args.at(name).value); };
    switch (spec.op) {
    case OpKind::Conv: {
        ConvAttrs conv;
        conv.out_channels = count("out");
        conv.window = window_of(args);
        conv.groups = count("groups");
        conv.bias = flag("bias");
        if (conv.out_channels % conv.groups != 0) {
            throw UserError(args.at("groups").location,
                            "conv's output channels (" + std::to_string(conv.out_channels) +
                                ") must be divisible by groups=" + std::to_string(conv.groups));
        }
        node.attrs = conv;
        break;
    }
    case OpKind::MaxPool:
    case OpKind::AvgPool: {
        PoolAttrs pool;
        pool.window = window_of(args);
        if (spec.op == OpKind::AvgPool) {
            pool.count_include_pad = flag("count_include_pad");
        }
        // PyTorch's rule: padding may be at most half the kernel (written
        // without `pad * 2`, which a huge padding would overflow).
        if (pool.window.pad_begin.h > pool.window.kernel.h / 2 ||
            pool.window.pad_begin.w > pool.window.kernel.w / 2) {
            throw UserError(args.at("pad").location, std::string(spec.name) + "'s padding (" +
                                                         value_text(args.at("pad").value) +
                                                         ") must be at most half its kernel (" +
                                                         value_text(args.at("kernel").value) + ")");
        }
        node.attrs = pool;
        break;
    }
    case OpKind::BatchNorm:
        node.attrs = BatchNormAttrs{real_in(args, "eps", 0, 1, true, spec.name, "in (0, 1]")};
        break;
    case OpKind::LeakyRelu:
        node.attrs = LeakyReluAttrs{std::get<double>(args.at("slope").value)};
        break;
    case OpKind::Linear: node.attrs = LinearAttrs{count("out"), flag("bias")}; break;
    case OpKind::Dropout:
        node.attrs = DropoutAttrs{real_in(args, "p", 0, 1, false, spec.name, "in [0, 1]")};
        break;
    case OpKind::Slice: node.attrs = SliceAttrs{0, count("parts")}; break;
    case OpKind::Shuffle: node.attrs = ShuffleAttrs{count("groups")}; break;
    case OpKind::Lrn:
        node.attrs =
            LrnAttrs{count("size"), std::get<double>(args.at("alpha").value),
                     std::get<double>(args.at("beta").value), std::get<double>(args.at("k").value)};
        break;
    default: break;
    }
    return node;
}

} // namespace strata
