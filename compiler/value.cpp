#include "value.h"

#include <sstream>

namespace strata {

std::string value_kind_name(const Value &value) {
    switch (value.index()) {
    case 0: return "an integer";
    case 1: return "a number";
    case 2: return "true or false";
    default: return "dimensions";
    }
}

std::string value_text(const Value &value) {
    if (const auto *i = std::get_if<int64_t>(&value)) {
        return std::to_string(*i);
    }
    if (const auto *d = std::get_if<double>(&value)) {
        std::ostringstream out;
        out << *d;
        return out.str();
    }
    if (const auto *b = std::get_if<bool>(&value)) {
        return *b ? "true" : "false";
    }
    std::string text;
    for (int64_t d : std::get<std::vector<int64_t>>(value)) {
        text += (text.empty() ? "" : "x") + std::to_string(d);
    }
    return text;
}

} // namespace strata
