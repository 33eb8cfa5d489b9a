// Diagnostics: the two kinds of error Strata reports.
//
// A UserError is a fault in the user's input (a .strata file, a weights file,
// a command-line value). It carries the source location when there is one and
// renders as `file:line:col: error: message`, the source line, a caret under
// the fault and an optional `help:` line saying how to fix it.
//
// An InternalError is a broken invariant inside Strata: a compiler bug, never
// the user's fault. The two are different types so that no code path can
// confuse them.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace strata {

/// The text of one input file, kept alive for as long as any location into it.
class SourceFile {
  public:
    SourceFile(std::string path, std::string text);

    const std::string &path() const { return path_; }
    const std::string &text() const { return text_; }

    /// The text of 1-based line `line`, without its newline; empty past the end.
    std::string line_text(int line) const;

  private:
    std::string path_;
    std::string text_;
    std::vector<size_t> line_starts_;
};

/// A point in a source file: 1-based line and column, and the length of the
/// faulty token (for the `^~~~` underline). A default location has no file.
struct SourceLocation {
    std::shared_ptr<const SourceFile> file;
    int line = 0;
    int column = 0;
    int length = 1;

    bool known() const { return file != nullptr && line > 0; }
};

/// A secondary location shown after the main error, e.g. the call site of the
/// block instance in which the error happened.
struct DiagnosticNote {
    SourceLocation location;
    std::string message;
};

/// An error in the user's input. `message` starts lower-case and has no final
/// period; `help` says how to fix it, when that can be said.
class UserError : public std::runtime_error {
  public:
    UserError(SourceLocation location, std::string message, std::string help = {});
    explicit UserError(std::string message, std::string help = {});

    const SourceLocation &location() const { return location_; }
    const std::string &message() const { return message_; }
    const std::string &help() const { return help_; }
    const std::vector<DiagnosticNote> &notes() const { return notes_; }

    void add_note(SourceLocation location, std::string message);

    /// The full text: location, message, source line with caret, help, notes.
    std::string render() const;

  private:
    SourceLocation location_;
    std::string message_;
    std::string help_;
    std::vector<DiagnosticNote> notes_;
};

/// A broken invariant inside Strata. Its message says which invariant.
class InternalError : public std::logic_error {
  public:
    explicit InternalError(const std::string &invariant);
};

/// strerror(errno), starting lower-case like every message.
std::string system_error_text();

/// Throws InternalError when `condition` is false.
void check_internal(bool condition, const char *invariant);

} // namespace strata
