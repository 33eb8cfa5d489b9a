#include "driver_program.h"

namespace strata {

int64_t workspace_bytes(const DriverProgram &program) {
    return program.arena_bytes > 0 ? program.arena_bytes + 63 : 0;
}

} // namespace strata
