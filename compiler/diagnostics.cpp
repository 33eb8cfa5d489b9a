#include "diagnostics.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace strata {

SourceFile::SourceFile(std::string path, std::string text)
    : path_(std::move(path)), text_(std::move(text)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < text_.size(); ++i) {
        if (text_[i] == '\n') {
            line_starts_.push_back(i + 1);
        }
    }
}

std::string SourceFile::line_text(int line) const {
    if (line < 1 || static_cast<size_t>(line) > line_starts_.size()) {
        return {};
    }
    size_t begin = line_starts_[line - 1];
    size_t end = text_.find('\n', begin);
    if (end == std::string::npos) {
        end = text_.size();
    }
    std::string text = text_.substr(begin, end - begin);
    if (!text.empty() && text.back() == '\r') {
        text.pop_back();
    }
    return text;
}

UserError::UserError(SourceLocation location, std::string message, std::string help)
    : std::runtime_error(message), location_(std::move(location)), message_(std::move(message)),
      help_(std::move(help)) {}

UserError::UserError(std::string message, std::string help)
    : UserError(SourceLocation{}, std::move(message), std::move(help)) {}

void UserError::add_note(SourceLocation location, std::string message) {
    notes_.push_back({std::move(location), std::move(message)});
}

namespace {

// Tabs in the source line are shown as single spaces so that the caret, which
// counts characters, lines up under the fault.
std::string quote_source_line(const SourceLocation &location) {
    std::string line = location.file->line_text(location.line);
    for (char &c : line) {
        if (c == '\t') {
            c = ' ';
        }
    }
    std::string number = std::to_string(location.line);
    std::string gutter(number.size(), ' ');
    int column = std::max(1, location.column);
    int length = std::max(1, location.length);
    if (static_cast<size_t>(column - 1) <= line.size()) {
        length = std::min<int>(length, std::max<int>(1, line.size() - (column - 1)));
    }
    std::ostringstream out;
    out << " " << number << " | " << line << "\n";
    out << " " << gutter << " | " << std::string(column - 1, ' ') << '^'
        << std::string(length - 1, '~') << "\n";
    return out.str();
}

std::string prefix(const SourceLocation &location) {
    if (!location.file) {
        return "strata: ";
    }
    if (location.line <= 0) {
        return location.file->path() + ": ";
    }
    return location.file->path() + ":" + std::to_string(location.line) + ":" +
           std::to_string(location.column) + ": ";
}

} // namespace

std::string UserError::render() const {
    std::ostringstream out;
    out << prefix(location_) << "error: " << message_ << "\n";
    if (location_.known()) {
        out << quote_source_line(location_);
    }
    if (!help_.empty()) {
        out << "help: " << help_ << "\n";
    }
    for (const DiagnosticNote &note : notes_) {
        out << prefix(note.location) << "note: " << note.message << "\n";
        if (note.location.known()) {
            out << quote_source_line(note.location);
        }
    }
    return out.str();
}

InternalError::InternalError(const std::string &invariant)
    : std::logic_error("internal error (a bug in Strata, please report it): " + invariant) {}

std::string system_error_text() {
    std::string text = std::strerror(errno);
    if (!text.empty()) {
        text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
    }
    return text;
}

void check_internal(bool condition, const char *invariant) {
    if (!condition) {
        throw InternalError(invariant);
    }
}

} // namespace strata
