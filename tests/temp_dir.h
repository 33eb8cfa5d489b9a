// A fresh directory under the system's temporary directory, removed with
// everything in it when the test that made it ends.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace strata::test {

class TempDir {
  public:
    TempDir() {
        // mkdtemp picks a name no other process (or parallel ctest job) holds.
        std::string pattern = (std::filesystem::temp_directory_path() / "strata-test-XXXXXX");
        if (mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("cannot create a temporary directory from " + pattern);
        }
        path_ = pattern;
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }

    /// The path of `name` inside the directory.
    std::string file(const std::string &name) const { return (path_ / name).string(); }

    /// Writes `bytes` to `name` inside the directory and returns its path.
    std::string write(const std::string &name, const std::string &bytes) const {
        std::string path = file(name);
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        if (!out) {
            throw std::runtime_error("cannot write " + path);
        }
        return path;
    }

  private:
    std::filesystem::path path_;
};

/// The whole content of the file at `path`.
inline std::string read_bytes(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

} // namespace strata::test
