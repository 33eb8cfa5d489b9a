#include "npy.h"

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <sstream>
#include <vector>

// The data is copied as raw bytes and the format's '<f4' is little-endian, as
// is every target Strata runs on.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the .npy reader copies "
                                                         "little-endian floats as bytes");

namespace strata {
namespace {

const char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;
constexpr size_t kF32Bytes = 4;
const char *const kAsFloat32Help = "convert it before saving: numpy.save(path, "
                                   "array.astype(numpy.float32))";

[[noreturn]] void fail(const std::string &path, const std::string &message,
                       const std::string &help = {}) {
    throw UserError(path + ": " + message, help);
}

// A value of the header's Python literal; numpy writes only these kinds.
struct PyValue {
    enum class Kind { String, Bool, None, Integer, Sequence, Dict };
    Kind kind = Kind::None;
    std::string text;     // String
    bool flag = false;    // Bool
    uint64_t integer = 0; // Integer, never negative in a .npy header
    std::vector<PyValue> items;
    std::map<std::string, PyValue> entries; // Dict, keyed by string keys
};

// A recursive-descent reader for the subset of Python literals numpy writes:
// strings, True/False/None, non-negative integers, tuples, lists and dicts.
class HeaderParser {
  public:
    HeaderParser(const std::string &path, const std::string &text) : path_(path), text_(text) {}

    PyValue parse() {
        PyValue value = parse_value(0);
        skip_space();
        if (pos_ != text_.size()) {
            error("unexpected text after the dict");
        }
        return value;
    }

  private:
    // Nesting deeper than this is no numpy header; the limit keeps a hostile
    // file from exhausting the stack.
    static constexpr int kMaxDepth = 32;

    [[noreturn]] void error(const std::string &what) const {
        std::string shown = text_.substr(0, 120);
        fail(path_,
             "the .npy header is not a valid Python dict literal (" + what + " at character " +
                 std::to_string(pos_) + " of \"" + shown + (text_.size() > 120 ? "...\"" : "\"") +
                 ")",
             "the file is corrupt or was not written by numpy.save");
    }

    void skip_space() {
        while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) {
            ++pos_;
        }
    }

    bool accept(char c) {
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }

    bool accept_word(const char *word) {
        size_t n = std::strlen(word);
        if (text_.compare(pos_, n, word) == 0) {
            pos_ += n;
            return true;
        }
        return false;
    }

    PyValue parse_value(int depth) {
        if (depth > kMaxDepth) {
            error("nesting too deep");
        }
        skip_space();
        if (pos_ >= text_.size()) {
            error("unexpected end");
        }
        char c = text_[pos_];
        PyValue value;
        if (c == '\'' || c == '"') {
            value.kind = PyValue::Kind::String;
            value.text = parse_string();
        } else if (std::isdigit(static_cast<unsigned char>(c))) {
            value.kind = PyValue::Kind::Integer;
            value.integer = parse_integer();
        } else if (c == '(' || c == '[') {
            value.kind = PyValue::Kind::Sequence;
            ++pos_;
            value.items = parse_sequence(c == '(' ? ')' : ']', depth);
        } else if (c == '{') {
            value.kind = PyValue::Kind::Dict;
            ++pos_;
            value.entries = parse_dict(depth);
        } else if (accept_word("True")) {
            value.kind = PyValue::Kind::Bool;
            value.flag = true;
        } else if (accept_word("False")) {
            value.kind = PyValue::Kind::Bool;
        } else if (accept_word("None")) {
            value.kind = PyValue::Kind::None;
        } else {
            error(std::string("unexpected '") + c + "'");
        }
        return value;
    }

    std::string parse_string() {
        char quote = text_[pos_++];
        std::string text;
        while (pos_ < text_.size() && text_[pos_] != quote) {
            if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) {
                ++pos_; // numpy never escapes; keep the escaped character as is
            }
            text += text_[pos_++];
        }
        if (pos_ >= text_.size()) {
            error("unterminated string");
        }
        ++pos_;
        return text;
    }

    uint64_t parse_integer() {
        uint64_t value = 0;
        while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
            uint64_t digit = static_cast<uint64_t>(text_[pos_] - '0');
            if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
                error("integer too large");
            }
            value = value * 10 + digit;
            ++pos_;
        }
        if (pos_ < text_.size() && text_[pos_] == 'L') {
            ++pos_; // Python 2 wrote long integers as 3L
        }
        return value;
    }

    std::vector<PyValue> parse_sequence(char close, int depth) {
        std::vector<PyValue> items;
        while (!accept(close)) {
            items.push_back(parse_value(depth + 1));
            if (!accept(',')) {
                if (!accept(close)) {
                    error(std::string("expected ',' or '") + close + "'");
                }
                break;
            }
        }
        return items;
    }

    std::map<std::string, PyValue> parse_dict(int depth) {
        std::map<std::string, PyValue> entries;
        while (!accept('}')) {
            PyValue key = parse_value(depth + 1);
            if (key.kind != PyValue::Kind::String) {
                error("expected a string key");
            }
            if (!accept(':')) {
                error("expected ':'");
            }
            if (!entries.emplace(key.text, parse_value(depth + 1)).second) {
                error("key '" + key.text + "' appears twice");
            }
            if (!accept(',')) {
                if (!accept('}')) {
                    error("expected ',' or '}'");
                }
                break;
            }
        }
        return entries;
    }

    const std::string &path_;
    const std::string &text_;
    size_t pos_ = 0;
};

// numpy's name for a simple dtype descr such as '<f8', for error messages;
// empty for descrs it does not recognise.
std::string dtype_name(const std::string &descr) {
    static const std::map<std::string, std::string> kNames = {
        {"f2", "float16"}, {"f4", "float32"},   {"f8", "float64"},     {"f16", "float128"},
        {"i1", "int8"},    {"i2", "int16"},     {"i4", "int32"},       {"i8", "int64"},
        {"u1", "uint8"},   {"u2", "uint16"},    {"u4", "uint32"},      {"u8", "uint64"},
        {"b1", "bool"},    {"c8", "complex64"}, {"c16", "complex128"}, {"O", "object"}};
    if (descr.empty()) {
        return {};
    }
    bool has_order = descr[0] == '<' || descr[0] == '>' || descr[0] == '|' || descr[0] == '=';
    auto it = kNames.find(descr.substr(has_order ? 1 : 0));
    if (it == kNames.end()) {
        return {};
    }
    return (descr[0] == '>' ? "big-endian " : "") + it->second;
}

Shape parse_shape(const std::string &path, const PyValue &value) {
    if (value.kind != PyValue::Kind::Sequence) {
        fail(path, "the .npy header's 'shape' is not a tuple",
             "the file is corrupt or was not written by numpy.save");
    }
    Shape shape;
    uint64_t elements = 1;
    // Capping the byte count at int64's range keeps every size computation
    // after this free of overflow.
    const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / kF32Bytes;
    for (const PyValue &dim : value.items) {
        if (dim.kind != PyValue::Kind::Integer) {
            fail(path, "the .npy header's 'shape' holds something other than integers");
        }
        if (dim.integer > limit || (dim.integer != 0 && elements > limit / dim.integer)) {
            fail(path, "the .npy header's shape has too many elements to address");
        }
        elements *= dim.integer;
        shape.dims.push_back(static_cast<int64_t>(dim.integer));
    }
    return shape;
}

std::string read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        fail(path, "cannot open the .npy file: " + system_error_text());
    }
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) {
        fail(path, "cannot read the .npy file: " + system_error_text());
    }
    return bytes;
}

// The header text and where the data starts, after checking magic and version.
std::pair<std::string, size_t> split_header(const std::string &path, const std::string &bytes) {
    if (bytes.compare(0, kMagicBytes, kMagic, std::min(bytes.size(), kMagicBytes)) != 0) {
        fail(path, "not a .npy file: it does not start with \"\\x93NUMPY\"",
             "write the array with numpy.save");
    }
    if (bytes.size() < kMagicBytes + 2) {
        fail(path, "the .npy file is truncated inside its preamble");
    }
    int major = static_cast<unsigned char>(bytes[6]);
    int minor = static_cast<unsigned char>(bytes[7]);
    size_t length_bytes = major == 1 ? 2 : 4;
    if (major < 1 || major > 3 || minor != 0) {
        fail(path, "unsupported .npy format version " + std::to_string(major) + "." +
                       std::to_string(minor) + "; Strata reads 1.0, 2.0 and 3.0");
    }
    size_t start = kMagicBytes + 2 + length_bytes;
    if (bytes.size() < start) {
        fail(path, "the .npy file is truncated inside its preamble");
    }
    size_t header_length = 0;
    for (size_t i = 0; i < length_bytes; ++i) {
        header_length |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    }
    if (header_length > bytes.size() - start) {
        fail(path,
             "the .npy header is " + std::to_string(header_length) +
                 " bytes long but the file holds only " + std::to_string(bytes.size() - start) +
                 " bytes after the preamble",
             "the file is truncated");
    }
    return {bytes.substr(start, header_length), start + header_length};
}

const PyValue &require_key(const std::string &path, const PyValue &header, const char *key) {
    auto it = header.entries.find(key);
    if (it == header.entries.end()) {
        fail(path, std::string("the .npy header has no '") + key + "' key",
             "the file is corrupt or was not written by numpy.save");
    }
    return it->second;
}

std::string shape_repr(const Shape &shape) {
    std::string text = "(";
    for (size_t i = 0; i < shape.dims.size(); ++i) {
        text += (i ? ", " : "") + std::to_string(shape.dims[i]);
    }
    return text + (shape.dims.size() == 1 ? ",)" : ")");
}

} // namespace

Tensor read_npy(const std::string &path) {
    std::string bytes = read_file(path);
    auto [header_text, data_start] = split_header(path, bytes);

    PyValue header = HeaderParser(path, header_text).parse();
    if (header.kind != PyValue::Kind::Dict) {
        fail(path, "the .npy header is not a dict",
             "the file is corrupt or was not written by numpy.save");
    }
    for (const auto &[key, value] : header.entries) {
        if (key != "descr" && key != "fortran_order" && key != "shape") {
            fail(path, "the .npy header has an unexpected key '" + key + "'",
                 "the file is corrupt or was not written by numpy.save");
        }
    }

    const PyValue &descr = require_key(path, header, "descr");
    if (descr.kind != PyValue::Kind::String) {
        fail(path, "the array has a structured dtype; Strata reads float32 arrays only",
             kAsFloat32Help);
    }
    if (descr.text != "<f4") {
        std::string name = dtype_name(descr.text);
        fail(path,
             "the array has dtype '" + descr.text + "'" + (name.empty() ? "" : " (" + name + ")") +
                 "; Strata reads little-endian float32 ('<f4') only",
             kAsFloat32Help);
    }
    const PyValue &fortran_order = require_key(path, header, "fortran_order");
    if (fortran_order.kind != PyValue::Kind::Bool) {
        fail(path, "the .npy header's 'fortran_order' is not True or False");
    }
    if (fortran_order.flag) {
        fail(path, "the array is stored in Fortran (column-major) order; Strata reads C order",
             "save numpy.ascontiguousarray(array) instead");
    }

    Tensor tensor(parse_shape(path, require_key(path, header, "shape")));
    size_t needed = tensor.data.size() * kF32Bytes;
    size_t present = bytes.size() - data_start;
    if (present != needed) {
        fail(path,
             "the data holds " + std::to_string(present) + " bytes but shape " +
                 tensor.shape.str() + " of float32 needs " + std::to_string(needed),
             present < needed ? "the file is truncated" : "the file is corrupt");
    }
    if (needed != 0) {
        std::memcpy(tensor.data.data(), bytes.data() + data_start, needed);
    }
    return tensor;
}

void write_npy(const std::string &path, const TensorView &tensor) {
    size_t bytes = static_cast<size_t>(tensor.shape.elements()) * kF32Bytes;
    check_internal(bytes == 0 || tensor.data != nullptr,
                   "write_npy: a non-empty tensor view has no data");

    // numpy pads the header with spaces and ends it with a newline so that the
    // data starts at a multiple of 64 bytes.
    std::string header =
        "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_repr(tensor.shape) + ", }";
    size_t preamble = kMagicBytes + 2 + 2;
    size_t total = (preamble + header.size() + 1 + 63) / 64 * 64;
    header.append(total - preamble - header.size() - 1, ' ');
    header += '\n';
    check_internal(header.size() <= 0xffff, "write_npy: header too long for version 1.0");

    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(kMagic, kMagicBytes);
    const char version_and_length[4] = {1, 0, static_cast<char>(header.size() & 0xff),
                                        static_cast<char>(header.size() >> 8)};
    out.write(version_and_length, sizeof version_and_length);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    if (bytes != 0) {
        out.write(reinterpret_cast<const char *>(tensor.data), static_cast<std::streamsize>(bytes));
    }
    out.close();
    if (!out) {
        fail(path, "cannot write the .npy file: " + system_error_text());
    }
}

void write_npy(const std::string &path, const Tensor &tensor) {
    check_internal(tensor.data.size() == static_cast<size_t>(tensor.shape.elements()),
                   "write_npy: a tensor's data does not match its shape");
    write_npy(path, TensorView{tensor.shape, tensor.data.data()});
}

} // namespace strata
