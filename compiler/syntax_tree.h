// The syntax tree of a .strata file, as the parser builds it and elaboration
// reads it. It records what was written and where; it knows no shapes.
#pragma once

#include "diagnostics.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace strata {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind { Integer, Float, Bool, Dims, Variable, Unary, Binary };

struct Expr {
    ExprKind kind = ExprKind::Integer;
    SourceLocation location; // spans the whole expression
    std::string text;        // its source text, for messages
    int64_t integer = 0;
    double real = 0;
    bool boolean = false;
    std::vector<int64_t> dims;
    std::string name; // Variable
    std::string op;   // Unary and Binary: "-", "!", "+", "==", "&&", ...
    ExprPtr lhs;      // Unary's operand, Binary's left side
    ExprPtr rhs;
};

/// `value` or `name=value` in a layer or block call.
struct Argument {
    std::string name; // empty when positional
    SourceLocation name_location;
    ExprPtr value;
};

/// `<- path` or `<- path[index]`: reads an earlier layer instead of the previous line.
struct Reference {
    std::string path;
    ExprPtr index; // null unless the reference picks one output of a split
    SourceLocation location;
};

struct Statement;
using Body = std::vector<Statement>;

enum class StatementKind {
    Let,      // let NAME = EXPR
    If,       // if COND { ... } else { ... }
    Invoke,   // a layer or a block call: conv 64 3x3 pad=1, basic(64) * 2
    Group,    // { ... }: a nested sequence, named like a PyTorch nn.Sequential
    Residual, // residual [if COND] { ... } [shortcut [if COND] { ... }]
    Branches, // concat [split] { ... } or add [split] { ... }
};

struct Statement {
    StatementKind kind = StatementKind::Invoke;
    SourceLocation location;
    std::string label; // `conv1:` before the statement, or empty
    SourceLocation label_location;

    // Let
    std::string variable;
    ExprPtr value;

    // If, Residual (the body's condition), Branches
    ExprPtr condition;
    Body body;
    Body else_body;

    // Residual
    bool has_shortcut = false;
    ExprPtr shortcut_condition;
    Body shortcut_body;

    // Branches: "concat" or "add"; with split, branch i reads channel part i
    std::string join;
    bool split = false;

    // Invoke
    std::string callee;
    SourceLocation callee_location;
    std::vector<Argument> arguments;
    std::vector<Reference> references;
    // Invoke and Group: `* N`, or null
    ExprPtr repeat;
};

struct BlockParameter {
    std::string name;
    SourceLocation location;
    ExprPtr default_value; // null when the caller must give it
};

struct BlockDefinition {
    std::string name;
    SourceLocation location;
    // An inline block's layers join the caller's sequence and take their
    // names there, as `nn.Sequential(*layers)` flattens in PyTorch.
    bool is_inline = false;
    std::vector<BlockParameter> parameters;
    Body body;
};

struct Program {
    std::shared_ptr<const SourceFile> file;
    std::string network_name; // empty: taken from the file name
    SourceLocation network_location;
    std::vector<int64_t> input_dims; // CxHxW or F
    SourceLocation input_location;
    std::vector<BlockDefinition> blocks;
    Body body;
};

} // namespace strata
