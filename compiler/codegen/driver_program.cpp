#include "driver_program.h"

namespace strata {

std::vector<int64_t> buffer_extents(const Shape &shape) {
    check_internal(shape.rank() >= 1 && shape.dims[0] == 1, "tensors have a batch of 1");
    return std::vector<int64_t>(shape.dims.rbegin(), shape.dims.rend() - 1);
}

int64_t workspace_bytes(const DriverProgram &program) {
    return program.arena_bytes > 0 ? program.arena_bytes + 63 : 0;
}

} // namespace strata
