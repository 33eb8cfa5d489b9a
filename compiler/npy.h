// NumPy's .npy format, float32 only: how inputs and reference outputs travel
// between Strata and Python (`numpy.save`, `numpy.load`).
//
// A file is the magic "\x93NUMPY", a version, a header length, a header that
// is a Python dict literal such as
//
//     {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 224, 224), }
//
// and then the raw data. Strata reads versions 1.0, 2.0 and 3.0 (they differ
// only in the width of the header length and the header's text encoding) and
// writes 1.0, as numpy does for any header that fits.
#pragma once

#include "tensor.h"

#include <string>

namespace strata {

/// Reads a little-endian float32 array in C order. Throws UserError naming
/// the file for a bad magic, a truncated file, a header that is not a dict
/// literal, Fortran order, any other dtype, or data that disagrees with the
/// shape.
Tensor read_npy(const std::string &path);

/// Writes `tensor` as a version 1.0 .npy file, byte for byte as numpy.save
/// would. Throws UserError when the file cannot be written.
void write_npy(const std::string &path, const TensorView &tensor);
void write_npy(const std::string &path, const Tensor &tensor);

} // namespace strata
