// The parser of the .strata language: tokens in, syntax tree out.
// The grammar is in docs/language.md.
#pragma once

#include "syntax_tree.h"

namespace strata {

/// Parses a whole file. Throws UserError at the first syntax error.
Program parse_program(const std::shared_ptr<const SourceFile> &file);

} // namespace strata
