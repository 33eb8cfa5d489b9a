// The .strata front end in one call: read, parse, elaborate, infer shapes.
#pragma once

#include "graph.h"

#include <string>

namespace strata {

/// Loads the network described in the file at `path`. Throws UserError on a
/// file that cannot be read or any error in its text.
Graph load_strata_file(const std::string &path);

/// Loads a network from `text`, reporting errors against `display_path`.
Graph load_strata_text(const std::string &display_path, std::string text);

} // namespace strata
