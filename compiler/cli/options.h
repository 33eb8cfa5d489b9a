// Option parsing shared by the subcommands.
#pragma once

#include <boost/program_options.hpp>
#include <string>
#include <vector>

namespace strata::cli {

namespace po = boost::program_options;

/// Thrown for wrong usage; main prints it with the command's usage line.
struct UsageError {
    std::string message;
};

/// Parses `args` against `visible` options plus one positional FILE. Returns
/// false after printing help when `--help` was given.
bool parse_command(const std::string &command, const std::string &summary,
                   const std::vector<std::string> &args, po::options_description &visible,
                   po::variables_map &values);

} // namespace strata::cli
