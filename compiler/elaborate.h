// Elaboration: the syntax tree of a .strata file becomes the graph IR.
//
// Block calls are expanded, `let`, `if` and repetition are evaluated, and
// every layer gets its full PyTorch-style name: a block instance or group
// labelled `layer1` holding an unnamed second item gives `layer1.1`, and a
// labelled layer `conv1` inside it `layer1.1.conv1`. Shapes are not known
// yet; infer_shapes comes next.
#pragma once

#include "graph.h"
#include "syntax_tree.h"

namespace strata {

/// Builds the graph of `program`. Throws UserError on an unknown layer or
/// block, a bad argument, a dangling reference, or a limit exceeded.
Graph elaborate(const Program &program);

/// The names of the built-in layers, for help texts and documentation.
std::vector<std::string> builtin_layer_names();

} // namespace strata
