#include "safetensors.h"
#include "temp_dir.h"

#include <catch2/catch.hpp>
#include <cstring>

using namespace strata;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using strata::test::read_bytes;
using strata::test::TempDir;

namespace {

// A file of the format by hand: size field, header text, data region.
std::string safetensors_bytes(const std::string &header, const std::string &data = {}) {
    std::string bytes(8, '\0');
    uint64_t size = header.size();
    for (int i = 0; i < 8; ++i) {
        bytes[i] = static_cast<char>(size >> (8 * i));
    }
    return bytes + header + data;
}

std::string float_bytes(const std::vector<float> &values) {
    std::string bytes(values.size() * sizeof(float), '\0');
    std::memcpy(bytes.data(), values.data(), bytes.size());
    return bytes;
}

// The message and help of the UserError that opening `path` throws.
std::string open_error(const std::string &path) {
    try {
        SafetensorsFile::open(path);
    } catch (const UserError &e) {
        return e.message() + "\nhelp: " + e.help();
    }
    return "no error";
}

Tensor make_tensor(Shape shape, float first) {
    Tensor tensor(std::move(shape));
    for (size_t i = 0; i < tensor.data.size(); ++i) {
        tensor.data[i] = first + static_cast<float>(i);
    }
    return tensor;
}

std::vector<float> view_values(const TensorView &view) {
    return std::vector<float>(view.data, view.data + view.shape.elements());
}

} // namespace

TEST_CASE("safetensors: written tensors read back unchanged and in place", "[safetensors]") {
    TempDir dir;
    Tensor weight = make_tensor(Shape{{2, 3, 1, 1}}, 1.0f);
    Tensor bias = make_tensor(Shape{{2}}, -5.0f);
    std::string path = dir.file("w.safetensors");
    write_safetensors(path, {{"conv.weight", &weight}, {"conv.bias", &bias}}, {{"format", "pt"}});

    SafetensorsFile file = SafetensorsFile::open(path);
    CHECK(file.names() == std::vector<std::string>{"conv.bias", "conv.weight"});
    CHECK(file.metadata() == std::map<std::string, std::string>{{"format", "pt"}});
    const TensorView *w = file.find("conv.weight");
    REQUIRE(w != nullptr);
    CHECK(w->shape == weight.shape);
    CHECK(view_values(*w) == weight.data);
    const TensorView *b = file.find("conv.bias");
    REQUIRE(b != nullptr);
    CHECK(view_values(*b) == bias.data);
    CHECK(file.find("conv.missing") == nullptr);

    // Moving the file keeps the mapping, so views stay valid and unchanged.
    const float *before = w->data;
    SafetensorsFile moved = std::move(file);
    REQUIRE(moved.find("conv.weight") != nullptr);
    CHECK(moved.find("conv.weight")->data == before);
    CHECK(view_values(*moved.find("conv.weight")) == weight.data);
}

TEST_CASE("safetensors: the writer's bytes depend only on the tensors", "[safetensors]") {
    TempDir dir;
    Tensor a = make_tensor(Shape{{3}}, 0.5f);
    Tensor b = make_tensor(Shape{{1, 2}}, 7.0f);
    write_safetensors(dir.file("ab"), {{"a", &a}, {"b", &b}});
    write_safetensors(dir.file("ba"), {{"b", &b}, {"a", &a}});
    std::string bytes = read_bytes(dir.file("ab"));
    CHECK(bytes == read_bytes(dir.file("ba")));

    // The header is sorted, compact JSON padded with spaces to a multiple of 8.
    std::string expected_header = R"({"a":{"data_offsets":[0,12],"dtype":"F32","shape":[3]},)"
                                  R"("b":{"data_offsets":[12,20],"dtype":"F32","shape":[1,2]}})";
    expected_header.append((8 - expected_header.size() % 8) % 8, ' ');
    CHECK(bytes == safetensors_bytes(expected_header, float_bytes(a.data) + float_bytes(b.data)));
}

TEST_CASE("safetensors: empty tensors and scalars are read", "[safetensors]") {
    TempDir dir;
    std::string path =
        dir.write("s.safetensors",
                  safetensors_bytes(R"({"scale":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                                    R"("none":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]}})",
                                    float_bytes({2.5f})));
    SafetensorsFile file = SafetensorsFile::open(path);
    REQUIRE(file.find("scale") != nullptr);
    CHECK(file.find("scale")->shape.dims.empty());
    CHECK(file.find("scale")->data[0] == 2.5f);
    REQUIRE(file.find("none") != nullptr);
    CHECK(file.find("none")->shape == Shape{{0, 3}});
}

TEST_CASE("safetensors: misaligned data is copied and read correctly", "[safetensors]") {
    TempDir dir;
    // A 61-byte header puts the data region at byte 69, not a multiple of 4.
    std::string header = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    header.append(61 - header.size(), ' ');
    std::string path =
        dir.write("m.safetensors", safetensors_bytes(header, float_bytes({1.25f, -3.0f})));
    SafetensorsFile file = SafetensorsFile::open(path);
    REQUIRE(file.find("t") != nullptr);
    CHECK(reinterpret_cast<uintptr_t>(file.find("t")->data) % alignof(float) == 0);
    CHECK(view_values(*file.find("t")) == std::vector<float>{1.25f, -3.0f});
}

TEST_CASE("safetensors: integer num_batches_tracked is skipped", "[safetensors]") {
    TempDir dir;
    std::string path = dir.write(
        "bn.safetensors",
        safetensors_bytes(R"({"bn.num_batches_tracked":{"dtype":"I64","shape":[],)"
                          R"("data_offsets":[0,8]},)"
                          R"("bn.weight":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                          std::string(8, '\0') + float_bytes({1.0f})));
    SafetensorsFile file = SafetensorsFile::open(path);
    CHECK(file.names() == std::vector<std::string>{"bn.weight"});
}

TEST_CASE("safetensors: truncated and oversized headers are rejected", "[safetensors]") {
    TempDir dir;
    std::string short_path = dir.write("short.safetensors", std::string(5, '\0'));
    CHECK_THAT(open_error(short_path),
               Contains(short_path + ": file is 5 bytes long, too short") && Contains("truncated"));

    // A size field claiming 1000 header bytes where the file holds 2.
    std::string past_bytes = safetensors_bytes("{}");
    past_bytes[0] = static_cast<char>(1000 & 0xff);
    past_bytes[1] = static_cast<char>(1000 >> 8);
    std::string past = dir.write("past.safetensors", past_bytes);
    CHECK_THAT(open_error(past),
               Contains("header size is 1000 bytes but the file holds only 2 bytes"));

    CHECK_THAT(open_error(dir.file("absent.safetensors")),
               Contains("cannot open the weights file: no such file or directory"));
    CHECK_THAT(open_error(dir.file("")), Contains("not a regular file"));
}

TEST_CASE("safetensors: malformed JSON headers are rejected", "[safetensors]") {
    TempDir dir;
    auto error_for = [&](const std::string &header) {
        return open_error(dir.write("h.safetensors", safetensors_bytes(header, "0123")));
    };
    CHECK_THAT(error_for(R"({"a": {"dtype": )"), Contains("header is not valid JSON"));
    CHECK_THAT(error_for(R"([1, 2])"), Contains("header is a JSON array, not an object"));
    CHECK_THAT(error_for(R"({"a": 3})"),
               Contains("entry 'a' of the header is a JSON number, not an object"));
    CHECK_THAT(error_for(R"({"a": {"dtype": "F32", "shape": [1]}})"),
               Contains("tensor 'a' has no 'data_offsets' field"));
    CHECK_THAT(error_for(R"({"a": {"dtype": 32, "shape": [1], "data_offsets": [0, 4]}})"),
               Contains("tensor 'a' has dtype 32, which is not a string"));
    CHECK_THAT(error_for(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                         R"( "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})"),
               Contains("tensor 'a' appears twice"));
    CHECK_THAT(error_for(R"({"__metadata__": {"n": 1}})"),
               Contains("__metadata__ entry 'n' is a JSON number, not a string"));
}

TEST_CASE("safetensors: unsupported and unknown dtypes are named", "[safetensors]") {
    TempDir dir;
    auto error_for = [&](const std::string &dtype, const std::string &name = "fc.weight") {
        return open_error(dir.write(
            "d.safetensors", safetensors_bytes(R"({")" + name + R"(": {"dtype": ")" + dtype +
                                                   R"(", "shape": [2], "data_offsets": [0, 4]}})",
                                               "0123")));
    };
    for (const char *dtype : {"F16", "BF16", "F64", "I64"}) {
        CHECK_THAT(error_for(dtype), Contains("tensor 'fc.weight' has dtype " + std::string(dtype) +
                                              ", which Strata does not support") &&
                                         Contains("help: convert the tensors to float32"));
    }
    CHECK_THAT(error_for("F33"), Contains("tensor 'fc.weight' has unknown dtype 'F33'"));
    // Only integer counters are skipped; a float16 one is still an error.
    CHECK_THAT(error_for("F16", "bn.num_batches_tracked"), Contains("does not support"));
}

TEST_CASE("safetensors: bad shapes are rejected", "[safetensors]") {
    TempDir dir;
    auto error_for = [&](const std::string &shape) {
        return open_error(dir.write("s.safetensors",
                                    safetensors_bytes(R"({"w": {"dtype": "F32", "shape": )" +
                                                          shape + R"(, "data_offsets": [0, 4]}})",
                                                      "0123")));
    };
    CHECK_THAT(error_for("[2, -1]"),
               Contains("tensor 'w' has shape [2,-1]: every dimension must be a non-negative"));
    CHECK_THAT(error_for("[1.5]"), Contains("every dimension must be a non-negative integer"));
    CHECK_THAT(error_for(R"("4")"), Contains("the shape must be an array"));
    CHECK_THAT(error_for("[4294967296, 4294967296]"), Contains("the element count overflows"));
    CHECK_THAT(error_for("[18446744073709551615]"), Contains("the element count overflows"));
}

TEST_CASE("safetensors: offsets must match the shape and stay in the data", "[safetensors]") {
    TempDir dir;
    auto error_for = [&](const std::string &entries, size_t data_bytes) {
        return open_error(
            dir.write("o.safetensors", safetensors_bytes(entries, std::string(data_bytes, '\0'))));
    };
    std::string path = dir.file("o.safetensors");
    CHECK_THAT(error_for(R"({"conv1.weight": {"dtype": "F32", "shape": [3, 3, 3, 3], )"
                         R"("data_offsets": [0, 400]}})",
                         400),
               Contains(path +
                        ": tensor 'conv1.weight' has data_offsets [0, 400] but shape 3x3x3x3 "
                        "of F32 needs 324 bytes"));
    CHECK_THAT(error_for(R"({"b": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 12),
               Contains("tensor 'b' has data_offsets [0, 16] but the data region holds only 12 "
                        "bytes"));
    CHECK_THAT(error_for(R"({"b": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}})", 12),
               Contains("tensor 'b' has data_offsets [8, 4], which begin after they end"));
    CHECK_THAT(error_for(R"({"b": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", 12),
               Contains("tensor 'b' has data_offsets [-4,0]: they must be two non-negative"));
    CHECK_THAT(error_for(R"({"b": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 12),
               Contains("tensor 'b' has data_offsets [0]: they must be two"));
    CHECK_THAT(error_for(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},)"
                         R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
                         16),
               Contains("tensors 'a' (data_offsets [0, 16]) and 'b' (data_offsets [8, 16]) "
                        "overlap"));
}

TEST_CASE("safetensors: every truncation and byte flip of a file fails cleanly", "[safetensors]") {
    TempDir dir;
    Tensor a = make_tensor(Shape{{2, 2}}, 1.0f);
    Tensor b = make_tensor(Shape{{3}}, 9.0f);
    std::string good_path = dir.file("good.safetensors");
    write_safetensors(good_path, {{"a", &a}, {"b", &b}});
    std::string good = read_bytes(good_path);

    // Every proper prefix cuts the header or the data: each must be a UserError.
    for (size_t length = 0; length < good.size(); ++length) {
        std::string path = dir.write("cut.safetensors", good.substr(0, length));
        CHECK_THROWS_AS(SafetensorsFile::open(path), UserError);
    }
    // A flipped header byte may still parse; it must never be anything but a
    // UserError or a file whose views lie inside it.
    size_t header_end = 8 + (static_cast<unsigned char>(good[0]) |
                             static_cast<size_t>(static_cast<unsigned char>(good[1])) << 8);
    for (size_t at = 0; at < header_end; ++at) {
        std::string bytes = good;
        bytes[at] = static_cast<char>(bytes[at] ^ 0x5a);
        std::string path = dir.write("flip.safetensors", bytes);
        try {
            SafetensorsFile file = SafetensorsFile::open(path);
            for (const std::string &name : file.names()) {
                const TensorView *view = file.find(name);
                CHECK(view->shape.elements() * 4 <= static_cast<int64_t>(bytes.size()));
            }
        } catch (const UserError &) {
            // expected for most flips
        }
    }
}
