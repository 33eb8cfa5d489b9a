// The built-in layers of the .strata language: their arguments, defaults and
// how a call becomes a graph node. One table, read by elaboration, by the
// error messages and by the language reference.
#pragma once

#include "evaluate.h"
#include "graph.h"

#include <optional>
#include <string>
#include <vector>

namespace strata {

enum class ArgType {
    Count,   // a positive integer
    Pair,    // a positive integer or HxW
    Padding, // a non-negative integer or HxW
    Bool,
    Real,
};

struct ArgSpec {
    const char *name;
    ArgType type;
    const char *description; // "an output channel count", for "expects ..., got ..."
    std::optional<Value> default_value;
    bool computed = false; // no default value, but not required: the layer derives it
};

struct LayerSpec {
    const char *name;
    OpKind op;
    std::vector<ArgSpec> args;
    int min_inputs; // how many layers it reads; 1 for most
    int max_inputs; // -1: no limit
    const char *example;
};

/// The spec of built-in layer `name`, or null.
const LayerSpec *find_layer_spec(const std::string &name);

const std::vector<LayerSpec> &layer_specs();

/// Binds the arguments of `call` (an Invoke statement) to `spec` and returns
/// the node's operator and attributes. Throws UserError on a missing,
/// unknown, repeated or ill-typed argument, or a value out of range.
Node build_layer(const LayerSpec &spec, const Statement &call, const Environment &env);

} // namespace strata
