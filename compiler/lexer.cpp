#include "lexer.h"

#include <cctype>
#include <cstdlib>
#include <limits>

namespace strata {

const char *token_kind_name(TokenKind kind) {
    switch (kind) {
    case TokenKind::Identifier: return "a name";
    case TokenKind::Integer: return "an integer";
    case TokenKind::Float: return "a number";
    case TokenKind::Dims: return "dimensions such as 3x3";
    case TokenKind::Newline: return "end of line";
    case TokenKind::LeftBrace: return "'{'";
    case TokenKind::RightBrace: return "'}'";
    case TokenKind::LeftParen: return "'('";
    case TokenKind::RightParen: return "')'";
    case TokenKind::LeftBracket: return "'['";
    case TokenKind::RightBracket: return "']'";
    case TokenKind::Comma: return "','";
    case TokenKind::Colon: return "':'";
    case TokenKind::Assign: return "'='";
    case TokenKind::Arrow: return "'<-'";
    case TokenKind::Plus: return "'+'";
    case TokenKind::Minus: return "'-'";
    case TokenKind::Star: return "'*'";
    case TokenKind::Slash: return "'/'";
    case TokenKind::Percent: return "'%'";
    case TokenKind::Equal: return "'=='";
    case TokenKind::NotEqual: return "'!='";
    case TokenKind::Less: return "'<'";
    case TokenKind::LessEqual: return "'<='";
    case TokenKind::Greater: return "'>'";
    case TokenKind::GreaterEqual: return "'>='";
    case TokenKind::And: return "'&&'";
    case TokenKind::Or: return "'||'";
    case TokenKind::Not: return "'!'";
    case TokenKind::End: return "end of file";
    }
    return "a token";
}

namespace {

bool is_name_start(char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool is_name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}
bool is_digit(char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
}

class Lexer {
  public:
    explicit Lexer(std::shared_ptr<const SourceFile> file)
        : file_(std::move(file)), text_(file_->text()) {}

    std::vector<Token> run() {
        while (true) {
            bool space = skip_space_and_comments();
            if (pos_ >= text_.size()) {
                break;
            }
            Token token = next();
            token.space_before = space;
            push(std::move(token));
        }
        Token end;
        end.kind = TokenKind::End;
        end.location = location(pos_, 1);
        push(std::move(end));
        return std::move(tokens_);
    }

  private:
    // Newlines inside () or [] do not end a statement; runs of newlines are
    // collapsed so the parser sees at most one between statements.
    void push(Token token) {
        switch (token.kind) {
        case TokenKind::LeftParen:
        case TokenKind::LeftBracket: ++nesting_; break;
        case TokenKind::RightParen:
        case TokenKind::RightBracket: nesting_ = nesting_ > 0 ? nesting_ - 1 : 0; break;
        case TokenKind::Newline:
            if (nesting_ > 0 || tokens_.empty() || tokens_.back().kind == TokenKind::Newline) {
                return;
            }
            break;
        default: break;
        }
        tokens_.push_back(std::move(token));
    }

    bool skip_space_and_comments() {
        bool skipped = false;
        while (pos_ < text_.size()) {
            char c = text_[pos_];
            if (c == ' ' || c == '\t' || c == '\r') {
                advance(1);
            } else if (c == '#') {
                while (pos_ < text_.size() && text_[pos_] != '\n') {
                    advance(1);
                }
            } else {
                break;
            }
            skipped = true;
        }
        return skipped;
    }

    SourceLocation location(size_t begin, size_t length) const {
        SourceLocation loc;
        loc.file = file_;
        loc.line = line_;
        loc.column = static_cast<int>(begin - line_start_) + 1;
        loc.length = static_cast<int>(std::max<size_t>(1, length));
        return loc;
    }

    void advance(size_t n) {
        for (size_t i = 0; i < n && pos_ < text_.size(); ++i) {
            if (text_[pos_] == '\n') {
                ++line_;
                line_start_ = pos_ + 1;
            }
            ++pos_;
        }
    }

    Token make(TokenKind kind, size_t length) {
        Token token;
        token.kind = kind;
        token.text = text_.substr(pos_, length);
        token.location = location(pos_, length);
        advance(length);
        return token;
    }

    Token next() {
        char c = text_[pos_];
        char d = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
        if (is_name_start(c)) {
            return name();
        }
        if (is_digit(c) || (c == '.' && is_digit(d))) {
            return number();
        }
        switch (c) {
        case '\n': return make(TokenKind::Newline, 1);
        case ';': return make(TokenKind::Newline, 1);
        case '{': return make(TokenKind::LeftBrace, 1);
        case '}': return make(TokenKind::RightBrace, 1);
        case '(': return make(TokenKind::LeftParen, 1);
        case ')': return make(TokenKind::RightParen, 1);
        case '[': return make(TokenKind::LeftBracket, 1);
        case ']': return make(TokenKind::RightBracket, 1);
        case ',': return make(TokenKind::Comma, 1);
        case ':': return make(TokenKind::Colon, 1);
        case '+': return make(TokenKind::Plus, 1);
        case '-': return make(TokenKind::Minus, 1);
        case '*': return make(TokenKind::Star, 1);
        case '/': return make(TokenKind::Slash, 1);
        case '%': return make(TokenKind::Percent, 1);
        case '=': return d == '=' ? make(TokenKind::Equal, 2) : make(TokenKind::Assign, 1);
        case '!': return d == '=' ? make(TokenKind::NotEqual, 2) : make(TokenKind::Not, 1);
        case '<':
            if (d == '-') {
                return make(TokenKind::Arrow, 2);
            }
            return d == '=' ? make(TokenKind::LessEqual, 2) : make(TokenKind::Less, 1);
        case '>': return d == '=' ? make(TokenKind::GreaterEqual, 2) : make(TokenKind::Greater, 1);
        case '&':
            if (d == '&') {
                return make(TokenKind::And, 2);
            }
            break;
        case '|':
            if (d == '|') {
                return make(TokenKind::Or, 2);
            }
            break;
        default: break;
        }
        std::string shown = std::isprint(static_cast<unsigned char>(c))
                                ? std::string("'") + c + "'"
                                : "byte " + std::to_string(static_cast<unsigned char>(c));
        std::string help;
        if (c == '&' || c == '|') {
            help = std::string("write '") + c + c + "' for the logical operator";
        }
        throw UserError(location(pos_, 1), "unexpected character " + shown, help);
    }

    // A name is letters, digits and underscores; dots join path segments,
    // and a segment after a dot may be a number (`layer1.0.conv1`).
    Token name() {
        size_t end = pos_;
        while (end < text_.size() && is_name_char(text_[end])) {
            ++end;
        }
        while (end + 1 < text_.size() && text_[end] == '.' && is_name_char(text_[end + 1])) {
            ++end;
            while (end < text_.size() && is_name_char(text_[end])) {
                ++end;
            }
        }
        return make(TokenKind::Identifier, end - pos_);
    }

    Token number() {
        size_t begin = pos_;
        size_t end = pos_;
        while (end < text_.size() && is_digit(text_[end])) {
            ++end;
        }
        // Dimensions: 3x3, 3x224x224
        if (end > begin && end + 1 < text_.size() && text_[end] == 'x' &&
            is_digit(text_[end + 1])) {
            while (end + 1 < text_.size() && text_[end] == 'x' && is_digit(text_[end + 1])) {
                ++end;
                while (end < text_.size() && is_digit(text_[end])) {
                    ++end;
                }
            }
            return dims(end - begin);
        }
        bool is_float = false;
        if (end < text_.size() && text_[end] == '.' && end + 1 < text_.size() &&
            is_digit(text_[end + 1])) {
            is_float = true;
            ++end;
            while (end < text_.size() && is_digit(text_[end])) {
                ++end;
            }
        }
        if (end < text_.size() && (text_[end] == 'e' || text_[end] == 'E')) {
            size_t exp = end + 1;
            if (exp < text_.size() && (text_[exp] == '+' || text_[exp] == '-')) {
                ++exp;
            }
            if (exp < text_.size() && is_digit(text_[exp])) {
                is_float = true;
                end = exp;
                while (end < text_.size() && is_digit(text_[end])) {
                    ++end;
                }
            }
        }
        if (end < text_.size() && is_name_char(text_[end])) {
            size_t bad = end;
            while (bad < text_.size() && is_name_char(text_[bad])) {
                ++bad;
            }
            throw UserError(location(begin, bad - begin),
                            "malformed number '" + text_.substr(begin, bad - begin) + "'",
                            "names start with a letter; dimensions are written like 3x3");
        }
        Token token = make(is_float ? TokenKind::Float : TokenKind::Integer, end - begin);
        if (is_float) {
            token.real = std::strtod(token.text.c_str(), nullptr);
        } else {
            token.integer = parse_integer(token.text, token.location);
        }
        return token;
    }

    Token dims(size_t length) {
        Token token = make(TokenKind::Dims, length);
        size_t start = 0;
        while (start <= token.text.size()) {
            size_t x = token.text.find('x', start);
            std::string part =
                token.text.substr(start, x == std::string::npos ? std::string::npos : x - start);
            token.dims.push_back(parse_integer(part, token.location));
            if (x == std::string::npos) {
                break;
            }
            start = x + 1;
        }
        return token;
    }

    static int64_t parse_integer(const std::string &digits, const SourceLocation &where) {
        int64_t value = 0;
        for (char c : digits) {
            int digit = c - '0';
            if (value > (std::numeric_limits<int64_t>::max() - digit) / 10) {
                throw UserError(where, "integer '" + digits + "' is too large");
            }
            value = value * 10 + digit;
        }
        return value;
    }

    std::shared_ptr<const SourceFile> file_;
    const std::string &text_;
    size_t pos_ = 0;
    int line_ = 1;
    size_t line_start_ = 0;
    int nesting_ = 0;
    std::vector<Token> tokens_;
};

} // namespace

std::vector<Token> tokenize(const std::shared_ptr<const SourceFile> &file) {
    return Lexer(file).run();
}

} // namespace strata
