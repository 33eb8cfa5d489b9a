// Values of the .strata language's expressions.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace strata {

/// An integer, a real number, a truth value or dimensions (3x3).
using Value = std::variant<int64_t, double, bool, std::vector<int64_t>>;

/// "an integer", "a number", "true or false", "dimensions" — for messages.
std::string value_kind_name(const Value &value);

/// "64", "0.75", "true", "3x3".
std::string value_text(const Value &value);

} // namespace strata
