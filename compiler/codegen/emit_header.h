// Emits the C header of a compiled network: the contract of its C API.
#pragma once

#include "driver_program.h"

#include <string>

namespace strata {

/// What made the library, for the header's banner.
struct HeaderBanner {
    std::string tool_version;
    std::string source;          // the .strata file
    std::string target;          // Halide target string
    std::string weights;         // the weights file, or how they were made
    bool random_weights = false; // no weights file: He initialisation
};

/// The header text; compiles as C99 and C++ under -Wall -Wextra -Wpedantic.
std::string emit_header(const DriverProgram &program, const HeaderBanner &banner);

} // namespace strata
