// The subcommands of the `strata` command line, one file each. Every command
// parses its own options with Boost.Program_options, so that its `--help` is
// generated from the same descriptions that parse it.
#pragma once

#include <string>
#include <vector>

namespace strata::cli {

/// Exit codes: the contract with scripts and build systems.
enum ExitCode : int {
    kOk = 0,
    kInputError = 1,    // an error in a .strata file, weights or data
    kUsageError = 2,    // wrong command-line usage
    kInternalError = 3, // a bug in Strata
};

/// Each command receives its arguments after the command's name.
int run_bench(const std::vector<std::string> &args);
int run_check(const std::vector<std::string> &args);
int run_compile(const std::vector<std::string> &args);
int run_stats(const std::vector<std::string> &args);
int run_run(const std::vector<std::string> &args);

} // namespace strata::cli
