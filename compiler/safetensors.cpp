#include "safetensors.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sys/mman.h>
#include <sys/stat.h>
#include <tuple>
#include <unistd.h>

// Views point straight into the file's bytes, which the format stores
// little-endian; every target Strata runs on (x86-64, ARM64) is little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the safetensors reader maps "
                                                         "little-endian data in place");

namespace strata {
namespace {

using Json = nlohmann::json;

// The reference implementation refuses larger headers; a bigger one is a
// corrupt size field, not a real network.
constexpr uint64_t kMaxHeaderSize = 100'000'000;
constexpr uint64_t kSizeFieldBytes = 8;
constexpr uint64_t kF32Bytes = 4;

const char *const kConvertHelp =
    "convert the tensors to float32 before saving, e.g. with "
    "`{k: v.float() for k, v in state_dict.items()}`, or export them with "
    "scripts/export_torchvision.py";

[[noreturn]] void fail(const std::string &path, const std::string &message,
                       const std::string &help = {}) {
    throw UserError(path + ": " + message, help);
}

std::string offsets_text(uint64_t begin, uint64_t end) {
    return "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// Every dtype the format defines. Knowing them lets the error for F16 say
// "not supported" rather than "unknown".
bool is_integer_dtype(const std::string &dtype) {
    static const std::set<std::string> kIntegers = {"U8",  "I8",  "U16", "I16",
                                                    "U32", "I32", "U64", "I64"};
    return kIntegers.count(dtype) != 0;
}

bool is_known_dtype(const std::string &dtype) {
    static const std::set<std::string> kOthers = {"BOOL", "F16",     "BF16",   "F32",
                                                  "F64",  "F8_E4M3", "F8_E5M2"};
    return is_integer_dtype(dtype) || kOthers.count(dtype) != 0;
}

bool ends_with(const std::string &text, const std::string &suffix) {
    return text.size() >= suffix.size() &&
           text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// One tensor of the header, checked against the data region.
struct Entry {
    std::string name;
    Shape shape;
    uint64_t begin = 0;
    uint64_t end = 0;
};

Shape parse_shape(const std::string &path, const std::string &name, const Json &json) {
    std::string where = "tensor '" + name + "' has shape " + json.dump();
    if (!json.is_array()) {
        fail(path, where + ": the shape must be an array of dimensions");
    }
    // Capping the byte count at int64's range keeps Shape::elements() and
    // every later size computation free of overflow.
    const uint64_t int64_max = std::numeric_limits<int64_t>::max();
    const uint64_t max_elements = int64_max / kF32Bytes;
    Shape shape;
    uint64_t elements = 1;
    for (const Json &dim : json) {
        if (dim.is_number_unsigned() && dim.get<uint64_t>() > int64_max) {
            fail(path, where + ": the element count overflows");
        }
        if (!dim.is_number_integer() || dim.get<int64_t>() < 0) {
            fail(path, where + ": every dimension must be a non-negative integer");
        }
        int64_t d = dim.get<int64_t>();
        if (d != 0 && elements > max_elements / static_cast<uint64_t>(d)) {
            fail(path, where + ": the element count overflows");
        }
        elements *= static_cast<uint64_t>(d);
        shape.dims.push_back(d);
    }
    return shape;
}

std::pair<uint64_t, uint64_t> parse_offsets(const std::string &path, const std::string &name,
                                            const Json &json) {
    bool ok = json.is_array() && json.size() == 2;
    for (size_t i = 0; ok && i < 2; ++i) {
        ok = json[i].is_number_unsigned(); // nlohmann parses non-negative integers as unsigned
    }
    if (!ok) {
        fail(path, "tensor '" + name + "' has data_offsets " + json.dump() +
                       ": they must be two non-negative integers [begin, end]");
    }
    return {json[0].get<uint64_t>(), json[1].get<uint64_t>()};
}

// Returns nullopt for an entry that is deliberately skipped.
std::optional<Entry> parse_entry(const std::string &path, const std::string &name, const Json &json,
                                 uint64_t data_size) {
    if (!json.is_object()) {
        fail(path, "entry '" + name + "' of the header is a JSON " + json.type_name() +
                       ", not an object with dtype, shape and data_offsets");
    }
    for (const char *key : {"dtype", "shape", "data_offsets"}) {
        if (!json.contains(key)) {
            fail(path, "tensor '" + name + "' has no '" + key + "' field");
        }
    }
    const Json &dtype_json = json["dtype"];
    if (!dtype_json.is_string()) {
        fail(path,
             "tensor '" + name + "' has dtype " + dtype_json.dump() + ", which is not a string");
    }
    std::string dtype = dtype_json.get<std::string>();
    // PyTorch's batch norm counts training steps in an int64 that inference
    // never reads; skipping it lets torchvision state_dicts load unchanged.
    if (is_integer_dtype(dtype) && ends_with("." + name, ".num_batches_tracked")) {
        return std::nullopt;
    }
    if (!is_known_dtype(dtype)) {
        fail(path, "tensor '" + name + "' has unknown dtype '" + dtype + "'",
             "safetensors dtypes are BOOL, U8, I8, U16, I16, U32, I32, U64, I64, F16, BF16, "
             "F32, F64, F8_E4M3 and F8_E5M2; Strata reads F32");
    }
    if (dtype != "F32") {
        fail(path, "tensor '" + name + "' has dtype " + dtype + ", which Strata does not support",
             kConvertHelp);
    }

    Entry entry;
    entry.name = name;
    entry.shape = parse_shape(path, name, json["shape"]);
    std::tie(entry.begin, entry.end) = parse_offsets(path, name, json["data_offsets"]);
    std::string offsets = offsets_text(entry.begin, entry.end);
    if (entry.begin > entry.end) {
        fail(path, "tensor '" + name + "' has " + offsets + ", which begin after they end");
    }
    uint64_t needed = static_cast<uint64_t>(entry.shape.elements()) * kF32Bytes;
    if (entry.end - entry.begin != needed) {
        fail(path, "tensor '" + name + "' has " + offsets + " but shape " + entry.shape.str() +
                       " of F32 needs " + std::to_string(needed) + " bytes");
    }
    if (entry.end > data_size) {
        fail(path,
             "tensor '" + name + "' has " + offsets + " but the data region holds only " +
                 std::to_string(data_size) + " bytes",
             "the file is truncated or its header is corrupt");
    }
    return entry;
}

void check_no_overlap(const std::string &path, std::vector<Entry> entries) {
    std::sort(entries.begin(), entries.end(), [](const Entry &a, const Entry &b) {
        return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
    });
    const Entry *furthest = nullptr; // the entry reaching furthest so far
    for (const Entry &entry : entries) {
        if (entry.begin == entry.end) {
            continue; // an empty tensor occupies no bytes
        }
        if (furthest != nullptr && entry.begin < furthest->end) {
            fail(path,
                 "tensors '" + furthest->name + "' (" +
                     offsets_text(furthest->begin, furthest->end) + ") and '" + entry.name + "' (" +
                     offsets_text(entry.begin, entry.end) + ") overlap",
                 "the header is corrupt; export the file again");
        }
        if (furthest == nullptr || entry.end > furthest->end) {
            furthest = &entry;
        }
    }
}

std::map<std::string, std::string> parse_metadata(const std::string &path, const Json &json) {
    std::map<std::string, std::string> metadata;
    if (!json.is_object()) {
        fail(path, std::string("__metadata__ is a JSON ") + json.type_name() +
                       ", not an object of strings");
    }
    for (const auto &[key, value] : json.items()) {
        if (!value.is_string()) {
            fail(path, "__metadata__ entry '" + key + "' is a JSON " + value.type_name() +
                           ", not a string");
        }
        metadata[key] = value.get<std::string>();
    }
    return metadata;
}

Json parse_header(const std::string &path, const unsigned char *begin, const unsigned char *end) {
    // nlohmann keeps the last of two equal keys; a file that names a tensor
    // twice is ambiguous, so duplicates are caught while parsing.
    std::set<std::string> keys;
    std::string duplicate;
    auto on_event = [&](int depth, Json::parse_event_t event, Json &parsed) {
        if (event == Json::parse_event_t::key && depth == 1 && parsed.is_string() &&
            !keys.insert(parsed.get<std::string>()).second && duplicate.empty()) {
            duplicate = parsed.get<std::string>();
        }
        return true;
    };
    Json header;
    try {
        header = Json::parse(begin, end, on_event);
    } catch (const Json::exception &e) {
        // what() starts with "[json.exception.parse_error.101] ", meant for programmers.
        std::string detail = e.what();
        size_t bracket = detail.find("] ");
        if (bracket != std::string::npos) {
            detail = detail.substr(bracket + 2);
        }
        fail(path, "header is not valid JSON: " + detail,
             "the file is truncated, corrupt or not a safetensors file");
    }
    if (!duplicate.empty()) {
        fail(path, "tensor '" + duplicate + "' appears twice in the header");
    }
    if (!header.is_object()) {
        fail(path,
             std::string("header is a JSON ") + header.type_name() + ", not an object of tensors");
    }
    return header;
}

uint64_t read_u64_le(const unsigned char *bytes) {
    uint64_t value = 0;
    for (int i = 7; i >= 0; --i) {
        value = (value << 8) | bytes[i];
    }
    return value;
}

} // namespace

SafetensorsFile SafetensorsFile::open(const std::string &path) {
    SafetensorsFile file;
    file.path_ = path;

    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(path, "cannot open the weights file: " + system_error_text());
    }
    struct stat info {};
    if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        ::close(fd);
        fail(path, "not a regular file");
    }
    uint64_t size = static_cast<uint64_t>(info.st_size);
    if (size < kSizeFieldBytes) {
        ::close(fd);
        fail(path,
             "file is " + std::to_string(size) +
                 " bytes long, too short for a safetensors header (8 bytes at least)",
             "the file is truncated or not a safetensors file");
    }
    void *mapping = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    std::string map_error = mapping == MAP_FAILED ? system_error_text() : std::string();
    ::close(fd); // the mapping keeps the file alive
    if (mapping == MAP_FAILED) {
        fail(path, "cannot map the weights file: " + map_error);
    }
    // From here the destructor unmaps, also when validation throws.
    file.mapping_ = static_cast<const unsigned char *>(mapping);
    file.mapping_size_ = size;

    uint64_t header_size = read_u64_le(file.mapping_);
    if (header_size > size - kSizeFieldBytes) {
        fail(path,
             "header size is " + std::to_string(header_size) + " bytes but the file holds only " +
                 std::to_string(size - kSizeFieldBytes) + " bytes after the size field",
             "the file is truncated or not a safetensors file");
    }
    if (header_size > kMaxHeaderSize) {
        fail(path, "header size is " + std::to_string(header_size) +
                       " bytes, more than the format's limit of " + std::to_string(kMaxHeaderSize));
    }
    const unsigned char *header_begin = file.mapping_ + kSizeFieldBytes;
    const unsigned char *data = header_begin + header_size;
    uint64_t data_size = size - kSizeFieldBytes - header_size;

    Json header = parse_header(path, header_begin, data);
    std::vector<Entry> entries;
    for (const auto &[name, value] : header.items()) {
        if (name == "__metadata__") {
            file.metadata_ = parse_metadata(path, value);
        } else if (std::optional<Entry> entry = parse_entry(path, name, value, data_size)) {
            entries.push_back(std::move(*entry));
        }
    }
    check_no_overlap(path, entries);

    for (const Entry &entry : entries) {
        const unsigned char *bytes = data + entry.begin;
        bool aligned = reinterpret_cast<uintptr_t>(bytes) % alignof(float) == 0;
        TensorView view{entry.shape, nullptr}; // an empty tensor has no data
        if (entry.begin != entry.end && aligned) {
            view.data = reinterpret_cast<const float *>(bytes);
        } else if (entry.begin != entry.end) {
            // Reading a float through a misaligned pointer is undefined; old
            // writers did not pad the header, so copy rather than reject.
            std::vector<float> copy(static_cast<size_t>(entry.shape.elements()));
            std::memcpy(copy.data(), bytes, entry.end - entry.begin);
            view.data = copy.data();
            file.misaligned_copies_.push_back(std::move(copy));
        }
        file.tensors_.emplace(entry.name, std::move(view));
    }
    return file;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile &&other) noexcept
    : path_(std::move(other.path_)), mapping_(std::exchange(other.mapping_, nullptr)),
      mapping_size_(std::exchange(other.mapping_size_, 0)), tensors_(std::move(other.tensors_)),
      metadata_(std::move(other.metadata_)),
      misaligned_copies_(std::move(other.misaligned_copies_)) {}

SafetensorsFile &SafetensorsFile::operator=(SafetensorsFile &&other) noexcept {
    if (this != &other) {
        unmap();
        path_ = std::move(other.path_);
        mapping_ = std::exchange(other.mapping_, nullptr);
        mapping_size_ = std::exchange(other.mapping_size_, 0);
        tensors_ = std::move(other.tensors_);
        metadata_ = std::move(other.metadata_);
        misaligned_copies_ = std::move(other.misaligned_copies_);
    }
    return *this;
}

SafetensorsFile::~SafetensorsFile() {
    unmap();
}

void SafetensorsFile::unmap() {
    if (mapping_ != nullptr) {
        ::munmap(const_cast<unsigned char *>(mapping_), mapping_size_);
        mapping_ = nullptr;
        mapping_size_ = 0;
    }
}

std::vector<std::string> SafetensorsFile::names() const {
    std::vector<std::string> names;
    for (const auto &[name, view] : tensors_) {
        names.push_back(name);
    }
    return names;
}

const TensorView *SafetensorsFile::find(const std::string &name) const {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
}

void write_safetensors(const std::string &path,
                       const std::vector<std::pair<std::string, TensorView>> &tensors,
                       const std::map<std::string, std::string> &metadata) {
    std::vector<const std::pair<std::string, TensorView> *> sorted;
    for (const auto &entry : tensors) {
        sorted.push_back(&entry);
    }
    std::sort(sorted.begin(), sorted.end(),
              [](const auto *a, const auto *b) { return a->first < b->first; });

    Json header = Json::object();
    uint64_t offset = 0;
    for (size_t i = 0; i < sorted.size(); ++i) {
        const auto &[name, view] = *sorted[i];
        check_internal(i == 0 || sorted[i - 1]->first != name,
                       "write_safetensors: tensor names must be unique");
        check_internal(name != "__metadata__",
                       "write_safetensors: a tensor is called __metadata__");
        uint64_t bytes = static_cast<uint64_t>(view.shape.elements()) * kF32Bytes;
        check_internal(bytes == 0 || view.data != nullptr,
                       "write_safetensors: a non-empty tensor view has no data");
        Json entry = Json::object();
        entry["dtype"] = "F32";
        entry["shape"] = view.shape.dims;
        entry["data_offsets"] = Json::array({offset, offset + bytes});
        header[name] = std::move(entry);
        offset += bytes;
    }
    if (!metadata.empty()) {
        header["__metadata__"] = metadata;
    }
    // nlohmann sorts object keys, so the text depends only on the contents.
    std::string text;
    try {
        text = header.dump();
    } catch (const Json::exception &) {
        fail(path, "cannot write the weights file: a tensor name is not valid UTF-8");
    }
    text.append((8 - text.size() % 8) % 8, ' ');

    unsigned char size_field[kSizeFieldBytes];
    for (size_t i = 0; i < kSizeFieldBytes; ++i) {
        size_field[i] = static_cast<unsigned char>(static_cast<uint64_t>(text.size()) >> (8 * i));
    }
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char *>(size_field), sizeof size_field);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto *entry : sorted) {
        const TensorView &view = entry->second;
        if (view.shape.elements() == 0) {
            continue; // its data pointer may be null
        }
        out.write(reinterpret_cast<const char *>(view.data),
                  static_cast<std::streamsize>(view.shape.elements()) *
                      static_cast<std::streamsize>(kF32Bytes));
    }
    out.close();
    if (!out) {
        fail(path, "cannot write the weights file: " + system_error_text());
    }
}

void write_safetensors(const std::string &path,
                       const std::vector<std::pair<std::string, const Tensor *>> &tensors,
                       const std::map<std::string, std::string> &metadata) {
    std::vector<std::pair<std::string, TensorView>> views;
    for (const auto &[name, tensor] : tensors) {
        check_internal(tensor->data.size() == static_cast<size_t>(tensor->shape.elements()),
                       "write_safetensors: a tensor's data does not match its shape");
        views.push_back({name, TensorView{tensor->shape, tensor->data.data()}});
    }
    write_safetensors(path, views, metadata);
}

} // namespace strata
