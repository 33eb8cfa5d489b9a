// Evaluation of the language's integer and logical expressions.
#pragma once

#include "syntax_tree.h"
#include "value.h"

#include <map>
#include <string>

namespace strata {

/// Variables visible to an expression: a block's parameters and `let`s, with
/// the file's top-level `let`s as the outer scope.
class Environment {
  public:
    explicit Environment(const Environment *outer = nullptr) : outer_(outer) {}

    /// Defines `name`; throws UserError if this scope already has it.
    void define(const std::string &name, Value value, const SourceLocation &where);
    const Value *find(const std::string &name) const;

  private:
    const Environment *outer_;
    std::map<std::string, Value> values_;
};

/// Evaluates `expr`. Integer arithmetic is checked: overflow and division by
/// zero are user errors, not undefined behaviour.
Value evaluate(const Expr &expr, const Environment &env);

} // namespace strata
