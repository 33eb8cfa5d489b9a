#include "npy.h"
#include "temp_dir.h"

#include <catch2/catch.hpp>
#include <cstring>

using namespace strata;
using Catch::Matchers::Contains;
using strata::test::read_bytes;
using strata::test::TempDir;

namespace {

// A .npy file by hand: magic, version, header length, header padded to 64
// bytes with a final newline (as numpy pads it), data.
std::string npy_bytes(const std::string &header, const std::string &data, int major = 1) {
    size_t length_bytes = major == 1 ? 2 : 4;
    size_t preamble = 8 + length_bytes;
    std::string padded = header;
    padded.append((64 - (preamble + header.size() + 1) % 64) % 64, ' ');
    padded += '\n';
    std::string bytes = std::string("\x93NUMPY") + static_cast<char>(major) + '\0';
    for (size_t i = 0; i < length_bytes; ++i) {
        bytes += static_cast<char>(padded.size() >> (8 * i));
    }
    return bytes + padded + data;
}

std::string float_bytes(const std::vector<float> &values) {
    std::string bytes(values.size() * sizeof(float), '\0');
    std::memcpy(bytes.data(), values.data(), bytes.size());
    return bytes;
}

std::string read_error(const std::string &path) {
    try {
        read_npy(path);
    } catch (const UserError &e) {
        return e.message() + "\nhelp: " + e.help();
    }
    return "no error";
}

} // namespace

TEST_CASE("npy: tensors round-trip through write_npy and read_npy", "[npy]") {
    TempDir dir;
    for (const Shape &shape : {Shape{{1, 3, 4, 5}}, Shape{{7}}, Shape{}, Shape{{2, 0}}}) {
        Tensor tensor(shape);
        for (size_t i = 0; i < tensor.data.size(); ++i) {
            tensor.data[i] = 0.25f * static_cast<float>(i) - 3.0f;
        }
        std::string path = dir.file("t.npy");
        write_npy(path, tensor);
        Tensor back = read_npy(path);
        CHECK(back.shape == shape);
        CHECK(back.data == tensor.data);
    }
}

TEST_CASE("npy: write_npy produces numpy.save's bytes", "[npy]") {
    TempDir dir;
    Tensor tensor(Shape{{2, 3}});
    for (size_t i = 0; i < 6; ++i) {
        tensor.data[i] = static_cast<float>(i);
    }
    write_npy(dir.file("a.npy"), tensor);
    // numpy.save(f, numpy.arange(6, dtype='<f4').reshape(2, 3)), numpy 1.24
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    std::string expected = std::string("\x93NUMPY\x01\x00\x76\x00", 10) + header +
                           std::string(58, ' ') + "\n" + float_bytes(tensor.data);
    CHECK(read_bytes(dir.file("a.npy")) == expected);
}

TEST_CASE("npy: version 2.0 and other spellings of the header are read", "[npy]") {
    TempDir dir;
    std::string v2 = dir.write("v2.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, "
                                                   "'shape': (2,), }",
                                                   float_bytes({1.5f, 2.5f}), 2));
    Tensor tensor = read_npy(v2);
    CHECK(tensor.shape == Shape{{2}});
    CHECK(tensor.data == std::vector<float>{1.5f, 2.5f});

    std::string odd = dir.write("odd.npy", npy_bytes(R"({"shape":(1,2),"descr":"<f4",)"
                                                     R"("fortran_order":False})",
                                                     float_bytes({4.0f, 5.0f})));
    CHECK(read_npy(odd).shape == Shape{{1, 2}});
}

TEST_CASE("npy: files that are not float32 C-order arrays are rejected", "[npy]") {
    TempDir dir;
    auto error_for = [&](const std::string &header, const std::string &data = std::string(8, 0)) {
        return read_error(dir.write("e.npy", npy_bytes(header, data)));
    };
    std::string path = dir.file("e.npy");
    CHECK_THAT(error_for("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }"),
               Contains(path + ": the array has dtype '<f8' (float64); Strata reads") &&
                   Contains("array.astype(numpy.float32)"));
    CHECK_THAT(error_for("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }"),
               Contains("dtype '>f4' (big-endian float32)"));
    CHECK_THAT(error_for("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }"),
               Contains("(int64)"));
    CHECK_THAT(error_for("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2,), }"),
               Contains("structured dtype"));
    CHECK_THAT(error_for("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2), }"),
               Contains("Fortran (column-major) order") && Contains("numpy.ascontiguousarray"));
    CHECK_THAT(error_for("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"),
               Contains("the data holds 8 bytes but shape 3 of float32 needs 12") &&
                   Contains("truncated"));
    CHECK_THAT(error_for("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }"),
               Contains("the data holds 8 bytes but shape 1 of float32 needs 4"));
}

TEST_CASE("npy: malformed headers are rejected", "[npy]") {
    TempDir dir;
    auto error_for = [&](const std::string &header) {
        return read_error(dir.write("g.npy", npy_bytes(header, std::string(8, 0))));
    };
    CHECK_THAT(error_for("{'descr': '<f4', 'shape': (2, }"),
               Contains("the .npy header is not a valid Python dict literal"));
    CHECK_THAT(error_for("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }"),
               Contains("unexpected '-'"));
    CHECK_THAT(error_for("{'descr': '<f4', 'fortran_order': False}"),
               Contains("the .npy header has no 'shape' key"));
    CHECK_THAT(error_for("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}"),
               Contains("unexpected key 'x'"));
    CHECK_THAT(error_for("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}"),
               Contains("'fortran_order' is not True or False"));
    CHECK_THAT(error_for("{'descr': '<f4', 'fortran_order': False, 'shape': ('2',)}"),
               Contains("'shape' holds something other than integers"));
    CHECK_THAT(error_for("{'descr': '<f4', 'fortran_order': False, "
                         "'shape': (4294967296, 4294967296)}"),
               Contains("too many elements"));
    CHECK_THAT(error_for("[1, 2]"), Contains("the .npy header is not a dict"));
    CHECK_THAT(error_for(std::string(40, '(')), Contains("nesting too deep"));
}

TEST_CASE("npy: bad magic, versions and truncation are rejected", "[npy]") {
    TempDir dir;
    std::string bad = dir.write("bad.npy", "PK\x03\x04 this is a zip file");
    CHECK_THAT(read_error(bad), Contains(bad + ": not a .npy file"));

    std::string good = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
                                 float_bytes({1.0f, 2.0f}));
    std::string v4 = good;
    v4[6] = 4;
    CHECK_THAT(read_error(dir.write("v4.npy", v4)),
               Contains("unsupported .npy format version 4.0"));

    for (size_t length = 0; length < good.size(); ++length) {
        std::string path = dir.write("cut.npy", good.substr(0, length));
        CHECK_THROWS_AS(read_npy(path), UserError);
    }
    CHECK_THAT(read_error(dir.write("cut.npy", good.substr(0, 30))),
               Contains("the .npy header is 118 bytes long but the file holds only 20"));
    CHECK_THAT(read_error(dir.file("absent.npy")), Contains("cannot open the .npy file"));
}
