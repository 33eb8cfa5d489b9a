// The lexer of the .strata language: text in, tokens out.
//
// Newlines end statements, except inside parentheses or brackets, where a
// long argument list may wrap. `#` starts a comment that runs to the end of
// the line. `3x3` and `3x224x224` are single Dims tokens.
#pragma once

#include "diagnostics.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace strata {

enum class TokenKind {
    Identifier, // conv, layer1, downsample.0 (dotted paths are one token)
    Integer,    // 64
    Float,      // 1e-5, 0.75
    Dims,       // 3x3, 3x224x224
    Newline,    // end of a statement (also `;`)
    LeftBrace,
    RightBrace,
    LeftParen,
    RightParen,
    LeftBracket,
    RightBracket,
    Comma,
    Colon,
    Assign, // =
    Arrow,  // <-
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Equal,    // ==
    NotEqual, // !=
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    And, // &&
    Or,  // ||
    Not, // !
    End,
};

/// How a token kind is named in "expected X, got Y" messages.
const char *token_kind_name(TokenKind kind);

struct Token {
    TokenKind kind = TokenKind::End;
    std::string text;          // the exact source text
    int64_t integer = 0;       // Integer
    double real = 0;           // Float
    std::vector<int64_t> dims; // Dims
    SourceLocation location;
    bool space_before = false; // separates `basic(64)` (a call) from `conv (64)`
};

/// Splits `file` into tokens ending with End. Throws UserError on a character
/// that starts no token or a number too large for 64 bits.
std::vector<Token> tokenize(const std::shared_ptr<const SourceFile> &file);

} // namespace strata
