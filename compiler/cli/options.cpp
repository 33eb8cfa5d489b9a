#include "options.h"

#include <iostream>

namespace strata::cli {

bool parse_command(const std::string &command, const std::string &summary,
                   const std::vector<std::string> &args, po::options_description &visible,
                   po::variables_map &values) {
    visible.add_options()("help,h", "show this help");
    po::options_description all;
    all.add(visible).add_options()("file", po::value<std::string>(), "the .strata file");
    po::positional_options_description positional;
    positional.add("file", 1);
    try {
        po::store(po::command_line_parser(args).options(all).positional(positional).run(), values);
        po::notify(values);
    } catch (const po::error &e) {
        throw UsageError{e.what()};
    }
    if (values.count("help")) {
        std::cout << "usage: strata " << command << " FILE.strata [options]\n\n"
                  << summary << "\n\n"
                  << visible;
        return false;
    }
    if (!values.count("file")) {
        throw UsageError{"missing the .strata file to read"};
    }
    return true;
}

} // namespace strata::cli
