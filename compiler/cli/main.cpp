// strata: the command line. Dispatches to one subcommand and turns errors into
// messages and exit codes; no error escapes as a crash.
#include "command.h"
#include "diagnostics.h"
#include "options.h"

#include <functional>
#include <iostream>
#include <map>

namespace {

using strata::cli::ExitCode;

struct Command {
    std::function<int(const std::vector<std::string> &)> run;
    const char *summary;
};

const std::map<std::string, Command> &commands() {
    static const std::map<std::string, Command> table = {
        {"bench", {strata::cli::run_bench, "time a compiled network on this machine (JIT)"}},
        {"check", {strata::cli::run_check, "check a .strata file and infer its shapes"}},
        {"compile",
         {strata::cli::run_compile, "compile a network to a static library and C "
                                    "header"}},
        {"stats", {strata::cli::run_stats, "print each layer's memory, weights and arithmetic"}},
        {"run",
         {strata::cli::run_run, "run a network on a NumPy input with the reference "
                                "interpreter"}},
    };
    return table;
}

void print_usage(std::ostream &out) {
    out << "usage: strata COMMAND FILE.strata [options]\n"
           "       strata --version\n\ncommands:\n";
    for (const auto &entry : commands()) {
        out << "  " << entry.first << std::string(8 - entry.first.size(), ' ')
            << entry.second.summary << "\n";
    }
    out << "\n'strata COMMAND --help' describes a command's options.\n"
           "exit codes: 0 ok, 1 error in the input, 2 wrong usage, 3 internal error\n";
}

} // namespace

int main(int argc, char **argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) {
        print_usage(std::cerr);
        return strata::cli::kUsageError;
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        print_usage(std::cout);
        return strata::cli::kOk;
    }
    if (args[0] == "--version") {
        std::cout << "strata " << STRATA_VERSION << "\n";
        return strata::cli::kOk;
    }
    auto command = commands().find(args[0]);
    if (command == commands().end()) {
        std::cerr << "strata: error: unknown command '" << args[0] << "'\n\n";
        print_usage(std::cerr);
        return strata::cli::kUsageError;
    }
    try {
        return command->second.run({args.begin() + 1, args.end()});
    } catch (const strata::cli::UsageError &e) {
        std::cerr << "strata " << args[0] << ": error: " << e.message << "\n"
                  << "see 'strata " << args[0] << " --help'\n";
        return strata::cli::kUsageError;
    } catch (const strata::UserError &e) {
        std::cerr << e.render();
        return strata::cli::kInputError;
    } catch (const strata::InternalError &e) {
        std::cerr << "strata: " << e.what() << "\n";
        return strata::cli::kInternalError;
    } catch (const std::bad_alloc &) {
        std::cerr << "strata: error: out of memory\n";
        return strata::cli::kInputError;
    } catch (const std::exception &e) {
        // Halide's and the standard library's exceptions: never the user's fault.
        std::cerr << "strata: internal error (a bug in Strata, please report it): " << e.what()
                  << "\n";
        return strata::cli::kInternalError;
    }
}
