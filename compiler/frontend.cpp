#include "frontend.h"

#include "elaborate.h"
#include "infer_shapes.h"
#include "parser.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace strata {

namespace {

// `network NAME` is optional; without it the file's stem names the network.
std::string name_from_path(const std::string &path) {
    std::string stem = std::filesystem::path(path).stem().string();
    for (char &c : stem) {
        if (!std::isalnum(static_cast<unsigned char>(c))) {
            c = '_';
        }
    }
    return stem.empty() || std::isdigit(static_cast<unsigned char>(stem[0])) ? "net_" + stem : stem;
}

} // namespace

Graph load_strata_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw UserError("cannot open '" + path + "': " + std::strerror(errno));
    }
    std::ostringstream text;
    text << in.rdbuf();
    return load_strata_text(path, text.str());
}

Graph load_strata_text(const std::string &display_path, std::string text) {
    auto file = std::make_shared<const SourceFile>(display_path, std::move(text));
    Program program = parse_program(file);
    if (program.network_name.empty()) {
        program.network_name = name_from_path(display_path);
    }
    Graph graph = elaborate(program);
    infer_shapes(graph);
    return graph;
}

} // namespace strata
