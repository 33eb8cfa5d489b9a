#include "evaluate.h"

#include "diagnostics.h"

#include <limits>

namespace strata {

void Environment::define(const std::string &name, Value value, const SourceLocation &where) {
    if (!values_.emplace(name, std::move(value)).second) {
        throw UserError(where, "'" + name + "' is already defined",
                        "choose another name; values cannot be reassigned");
    }
}

const Value *Environment::find(const std::string &name) const {
    auto it = values_.find(name);
    if (it != values_.end()) {
        return &it->second;
    }
    return outer_ ? outer_->find(name) : nullptr;
}

namespace {

int64_t checked(const Expr &expr, const std::string &op, int64_t a, int64_t b) {
    int64_t result = 0;
    bool overflow = false;
    if (op == "+") {
        overflow = __builtin_add_overflow(a, b, &result);
    } else if (op == "-") {
        overflow = __builtin_sub_overflow(a, b, &result);
    } else if (op == "*") {
        overflow = __builtin_mul_overflow(a, b, &result);
    } else {
        if (b == 0) {
            throw UserError(expr.location, "division by zero in '" + expr.text + "'");
        }
        if (a == std::numeric_limits<int64_t>::min() && b == -1) {
            overflow = true;
        } else {
            result = op == "/" ? a / b : a % b;
        }
    }
    if (overflow) {
        throw UserError(expr.location, "integer overflow in '" + expr.text + "'");
    }
    return result;
}

double as_real(const Value &v) {
    if (const auto *i = std::get_if<int64_t>(&v)) {
        return static_cast<double>(*i);
    }
    return std::get<double>(v);
}

bool is_number(const Value &v) {
    return std::holds_alternative<int64_t>(v) || std::holds_alternative<double>(v);
}

[[noreturn]] void operand_error(const Expr &expr, const Value &lhs, const Value *rhs) {
    std::string got = value_kind_name(lhs);
    if (rhs) {
        got += " and " + value_kind_name(*rhs);
    }
    throw UserError(expr.location,
                    "operator '" + expr.op + "' cannot be applied to " + got + " in '" + expr.text +
                        "'",
                    "arithmetic takes numbers, '&&', '||' and '!' take true or false");
}

Value compare(const Expr &expr, const Value &lhs, const Value &rhs) {
    const std::string &op = expr.op;
    if (op == "==" || op == "!=") {
        bool equal = false;
        if (is_number(lhs) && is_number(rhs)) {
            equal = as_real(lhs) == as_real(rhs);
        } else if (lhs.index() == rhs.index()) {
            equal = lhs == rhs;
        } else {
            operand_error(expr, lhs, &rhs);
        }
        return op == "==" ? equal : !equal;
    }
    if (!is_number(lhs) || !is_number(rhs)) {
        operand_error(expr, lhs, &rhs);
    }
    double a = as_real(lhs);
    double b = as_real(rhs);
    if (op == "<") {
        return a < b;
    }
    if (op == "<=") {
        return a <= b;
    }
    if (op == ">") {
        return a > b;
    }
    return a >= b;
}

Value binary(const Expr &expr, const Environment &env) {
    const std::string &op = expr.op;
    Value lhs = evaluate(*expr.lhs, env);
    if (op == "&&" || op == "||") {
        if (!std::holds_alternative<bool>(lhs)) {
            operand_error(expr, lhs, nullptr);
        }
        // Short-circuit, as a reader of `stride != 1 || in != out` expects.
        if ((op == "&&") != std::get<bool>(lhs)) {
            return std::get<bool>(lhs);
        }
        Value rhs = evaluate(*expr.rhs, env);
        if (!std::holds_alternative<bool>(rhs)) {
            operand_error(expr, lhs, &rhs);
        }
        return rhs;
    }
    Value rhs = evaluate(*expr.rhs, env);
    if (op == "==" || op == "!=" || op == "<" || op == "<=" || op == ">" || op == ">=") {
        return compare(expr, lhs, rhs);
    }
    if (!is_number(lhs) || !is_number(rhs)) {
        operand_error(expr, lhs, &rhs);
    }
    if (std::holds_alternative<int64_t>(lhs) && std::holds_alternative<int64_t>(rhs)) {
        return checked(expr, op, std::get<int64_t>(lhs), std::get<int64_t>(rhs));
    }
    double a = as_real(lhs);
    double b = as_real(rhs);
    if (op == "+") {
        return a + b;
    }
    if (op == "-") {
        return a - b;
    }
    if (op == "*") {
        return a * b;
    }
    if (op == "/") {
        if (b == 0) {
            throw UserError(expr.location, "division by zero in '" + expr.text + "'");
        }
        return a / b;
    }
    throw UserError(expr.location, "'%' takes integers, in '" + expr.text + "'");
}

} // namespace

Value evaluate(const Expr &expr, const Environment &env) {
    switch (expr.kind) {
    case ExprKind::Integer: return expr.integer;
    case ExprKind::Float: return expr.real;
    case ExprKind::Bool: return expr.boolean;
    case ExprKind::Dims: return expr.dims;
    case ExprKind::Variable: {
        const Value *v = env.find(expr.name);
        if (!v) {
            throw UserError(expr.location, "unknown name '" + expr.name + "'",
                            "values are block parameters or names defined with 'let'");
        }
        return *v;
    }
    case ExprKind::Unary: {
        Value operand = evaluate(*expr.lhs, env);
        if (expr.op == "!") {
            if (!std::holds_alternative<bool>(operand)) {
                operand_error(expr, operand, nullptr);
            }
            return !std::get<bool>(operand);
        }
        if (const auto *i = std::get_if<int64_t>(&operand)) {
            return checked(expr, "-", 0, *i);
        }
        if (const auto *d = std::get_if<double>(&operand)) {
            return -*d;
        }
        operand_error(expr, operand, nullptr);
    }
    case ExprKind::Binary: return binary(expr, env);
    }
    throw InternalError("evaluate: unknown expression kind");
}

} // namespace strata
