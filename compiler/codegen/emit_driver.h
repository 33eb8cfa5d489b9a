// Emits the driver of a compiled network into the LLVM module that holds its
// kernels and one Halide runtime. The driver is the library's C API:
//
//   int  NAME_run(const float *input, float *output);
//   int  NAME_run_with_workspace(const float *input, float *output,
//                                void *workspace, size_t workspace_bytes);
//   size_t NAME_workspace_size(void);
//   int  NAME_set_num_threads(int threads);
//   const char *NAME_last_error(void);
//
// It runs the kernels in order on one arena, installs an error handler so
// that Halide never aborts the host process, and returns 0 or the first
// non-zero code. Emitting it through LLVM means `strata compile` needs no
// C compiler, for any target.
#pragma once

#include "driver_program.h"

namespace llvm {
class Module;
}

namespace strata {

/// Error codes of the generated API besides Halide's own (negative) and the
/// device runtime's (positive) codes.
enum DriverError : int {
    kDriverNullArgument = -1001,
    kDriverWorkspaceTooSmall = -1002,
    kDriverOutOfMemory = -1003,
    kDriverBadArgument = -1004,
};

/// Requires `module` to define every kernel that `program` calls, with
/// Halide's AOT signature (one halide_buffer_t * per argument). Kernels are
/// made internal so that the library exports only the API.
void emit_driver(const DriverProgram &program, llvm::Module &module);

} // namespace strata
