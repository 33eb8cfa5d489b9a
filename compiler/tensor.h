// A dense float32 tensor in row-major order, and a read-only view of one.
// Used by the reference interpreter, the weights store and the NumPy reader.
#pragma once

#include "graph.h"

#include <vector>

namespace strata {

struct Tensor {
    Shape shape;
    std::vector<float> data; // shape.elements() values, row-major

    Tensor() = default;
    explicit Tensor(Shape s) : shape(std::move(s)), data(static_cast<size_t>(shape.elements())) {}
};

/// Borrowed float32 data, e.g. from a memory-mapped safetensors file.
struct TensorView {
    Shape shape;
    const float *data = nullptr;
};

} // namespace strata
