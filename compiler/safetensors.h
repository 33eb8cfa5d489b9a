// Reading and writing the safetensors format, in which Strata takes weights.
//
// A file is an 8-byte little-endian header size N, N bytes of JSON
//
//     {"NAME": {"dtype": "F32", "shape": [64, 3, 7, 7], "data_offsets": [BEGIN, END]},
//      ..., "__metadata__": {"KEY": "VALUE", ...}}
//
// and then the data region, into which BEGIN and END point. The reader maps
// the file and hands out views into it, so a 500 MB network costs no copy.
// It checks every header field against the file before any view exists: a
// corrupt or hostile file is a UserError, never an out-of-bounds read.
//
// Strata reads float32 (F32) tensors only. The one exception is batch norm's
// `*.num_batches_tracked` counter, which PyTorch stores as an integer and
// inference never reads: integer tensors of that name are skipped.
#pragma once

#include "tensor.h"

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace strata {

class SafetensorsFile {
  public:
    /// Maps and validates the file at `path`. Throws UserError naming the file
    /// and the tensor for every fault (truncation, bad JSON, unsupported dtype,
    /// offsets that disagree with the shape or leave the data region, overlap).
    static SafetensorsFile open(const std::string &path);

    SafetensorsFile(SafetensorsFile &&other) noexcept;
    SafetensorsFile &operator=(SafetensorsFile &&other) noexcept;
    SafetensorsFile(const SafetensorsFile &) = delete;
    SafetensorsFile &operator=(const SafetensorsFile &) = delete;
    ~SafetensorsFile();

    const std::string &path() const { return path_; }

    /// The names of the tensors read, sorted; skipped entries are not listed.
    std::vector<std::string> names() const;

    /// The tensor called `name`, or nullptr. The view lives as long as this
    /// object (moving the object keeps it valid).
    const TensorView *find(const std::string &name) const;

    /// The optional `__metadata__` string map of the header.
    const std::map<std::string, std::string> &metadata() const { return metadata_; }

  private:
    SafetensorsFile() = default;
    void unmap();

    std::string path_;
    const unsigned char *mapping_ = nullptr; // the whole file, read-only
    size_t mapping_size_ = 0;
    std::map<std::string, TensorView> tensors_;
    std::map<std::string, std::string> metadata_;
    // Tensors whose offset in the file is not a multiple of 4 cannot be read
    // in place as floats; they are copied here once. Moving the outer vector
    // keeps the inner buffers, so views into them stay valid.
    std::vector<std::vector<float>> misaligned_copies_;
};

/// Writes `tensors` as an F32 safetensors file. Entries are sorted by name and
/// the header is padded with spaces to a multiple of 8 bytes, so the same
/// tensors always give the same bytes and every tensor's data is aligned.
/// Names must be unique. Throws UserError when the file cannot be written.
void write_safetensors(const std::string &path,
                       const std::vector<std::pair<std::string, TensorView>> &tensors,
                       const std::map<std::string, std::string> &metadata = {});

/// The same for owned tensors.
void write_safetensors(const std::string &path,
                       const std::vector<std::pair<std::string, const Tensor *>> &tensors,
                       const std::map<std::string, std::string> &metadata = {});

} // namespace strata
