#include "parser.h"

#include "lexer.h"

#include <algorithm>

namespace strata {

namespace {

// Nesting deeper than this (parentheses, braces) is refused rather than risk
// exhausting the stack on hostile input.
constexpr int kMaxNesting = 200;

class Parser {
  public:
    Parser(std::shared_ptr<const SourceFile> file, std::vector<Token> tokens)
        : file_(std::move(file)), tokens_(std::move(tokens)) {}

    Program program() {
        Program program;
        program.file = file_;
        skip_newlines();
        while (!at(TokenKind::End)) {
            if (is_declaration("network")) {
                network(program);
            } else if (is_declaration("input")) {
                input(program);
            } else if (is_declaration("block")) {
                program.blocks.push_back(block());
            } else if (is_declaration("inline")) {
                take();
                if (!at_word("block")) {
                    throw UserError(peek().location,
                                    "expected 'block' after 'inline', got " + describe(peek()));
                }
                program.blocks.push_back(block());
                program.blocks.back().is_inline = true;
            } else {
                if (program.input_dims.empty()) {
                    throw UserError(peek().location,
                                    "the network's input must be declared before its first layer",
                                    "add a line such as 'input 3x224x224' above this one");
                }
                program.body.push_back(statement());
            }
            end_of_statement();
        }
        if (program.input_dims.empty()) {
            throw UserError(peek().location, "the file declares no input",
                            "add a line such as 'input 3x224x224' (channels x height x width)");
        }
        return program;
    }

  private:
    // --- token access ---

    const Token &peek(size_t ahead = 0) const {
        size_t i = std::min(pos_ + ahead, tokens_.size() - 1);
        return tokens_[i];
    }
    bool at(TokenKind kind) const { return peek().kind == kind; }
    bool at_word(const char *word) const {
        return at(TokenKind::Identifier) && peek().text == word;
    }
    Token take() {
        Token token = peek();
        if (pos_ < tokens_.size() - 1) {
            ++pos_;
        }
        return token;
    }
    bool accept(TokenKind kind) {
        if (at(kind)) {
            take();
            return true;
        }
        return false;
    }
    Token expect(TokenKind kind, const std::string &what, const std::string &help = {}) {
        if (!at(kind)) {
            throw UserError(peek().location, "expected " + what + ", got " + describe(peek()),
                            help);
        }
        return take();
    }
    static std::string describe(const Token &token) {
        if (token.kind == TokenKind::End || token.kind == TokenKind::Newline) {
            return token_kind_name(token.kind);
        }
        return "'" + token.text + "'";
    }
    void skip_newlines() {
        while (accept(TokenKind::Newline)) {
        }
    }
    void end_of_statement() {
        if (at(TokenKind::End)) {
            return;
        }
        if (!at(TokenKind::Newline)) {
            throw UserError(peek().location,
                            "expected end of line after the statement, got " + describe(peek()),
                            "put each layer on its own line, or separate them with ';'");
        }
        skip_newlines();
    }
    // `network`, `input` and `block` start declarations only at the top
    // level and only when not used as a label (`input: ...` is an error later).
    bool is_declaration(const char *word) const {
        return at_word(word) && peek(1).kind != TokenKind::Colon;
    }

    // One level deeper; refused past kMaxNesting. Callers undo it, usually
    // through DepthGuard (after a throw the parser is abandoned anyway).
    void enter(const SourceLocation &where) {
        if (++depth_ > kMaxNesting) {
            throw UserError(where, "nesting is too deep (more than " + std::to_string(kMaxNesting) +
                                       " levels of braces, parentheses or operators)");
        }
    }

    struct DepthGuard {
        DepthGuard(Parser &p, const SourceLocation &where) : parser(p) { parser.enter(where); }
        ~DepthGuard() { --parser.depth_; }
        Parser &parser;
    };

    // --- declarations ---

    void network(Program &program) {
        Token keyword = take();
        if (!program.network_name.empty()) {
            throw UserError(keyword.location, "the network's name is declared twice");
        }
        Token name = expect(TokenKind::Identifier, "the network's name after 'network'");
        program.network_name = name.text;
        program.network_location = name.location;
    }

    void input(Program &program) {
        Token keyword = take();
        if (!program.input_dims.empty()) {
            throw UserError(keyword.location, "the network's input is declared twice");
        }
        if (!at(TokenKind::Dims) && !at(TokenKind::Integer)) {
            throw UserError(peek().location,
                            "expected the input shape after 'input', got " + describe(peek()),
                            "write channels x height x width, e.g. 'input 3x224x224'");
        }
        Token shape = take();
        program.input_dims =
            shape.kind == TokenKind::Dims ? shape.dims : std::vector<int64_t>{shape.integer};
        program.input_location = shape.location;
        if (program.input_dims.size() != 3 && program.input_dims.size() != 1) {
            throw UserError(shape.location,
                            "the input shape must be CxHxW or a feature count, got '" + shape.text +
                                "'",
                            "the batch is always 1 and is not written: 'input 3x224x224'");
        }
        for (int64_t d : program.input_dims) {
            if (d <= 0) {
                throw UserError(shape.location,
                                "input dimensions must be positive, got '" + shape.text + "'");
            }
        }
    }

    BlockDefinition block() {
        take();
        BlockDefinition def;
        Token name = expect(TokenKind::Identifier, "the block's name after 'block'");
        def.name = name.text;
        def.location = name.location;
        expect(TokenKind::LeftParen, "'(' after the block's name",
               "a block without parameters is written 'block " + def.name + "() { ... }'");
        if (!at(TokenKind::RightParen)) {
            do {
                BlockParameter param;
                Token pname = expect(TokenKind::Identifier, "a parameter name");
                param.name = pname.text;
                param.location = pname.location;
                if (accept(TokenKind::Assign)) {
                    param.default_value = expression();
                }
                def.parameters.push_back(std::move(param));
            } while (accept(TokenKind::Comma));
        }
        expect(TokenKind::RightParen, "',' or ')' in the parameter list");
        def.body = braced_body("the block's body");
        return def;
    }

    // --- statements ---

    Body braced_body(const std::string &what) {
        DepthGuard guard(*this, peek().location);
        expect(TokenKind::LeftBrace, "'{' to open " + what);
        skip_newlines();
        Body body;
        while (!at(TokenKind::RightBrace)) {
            if (at(TokenKind::End)) {
                throw UserError(peek().location,
                                "expected '}' to close " + what + ", got " + describe(peek()));
            }
            body.push_back(statement());
            if (!at(TokenKind::RightBrace)) {
                end_of_statement();
            }
        }
        take();
        return body;
    }

    Statement statement() {
        Statement st;
        st.location = peek().location;
        if (at(TokenKind::Identifier) && peek(1).kind == TokenKind::Colon) {
            Token label = take();
            take();
            st.label = label.text;
            st.label_location = label.location;
            if (at_word("let") || at_word("if")) {
                throw UserError(label.location, "'" + peek().text + "' cannot be labelled",
                                "labels name layers, blocks and groups");
            }
        }
        if (at_word("let")) {
            return let(std::move(st));
        }
        if (at_word("if")) {
            return conditional(std::move(st));
        }
        if (at_word("residual")) {
            return residual(std::move(st));
        }
        if ((at_word("concat") || at_word("add")) &&
            (peek(1).kind == TokenKind::LeftBrace ||
             (peek(1).kind == TokenKind::Identifier && peek(1).text == "split"))) {
            return branches(std::move(st));
        }
        if (at(TokenKind::LeftBrace)) {
            st.kind = StatementKind::Group;
            st.body = braced_body("the group");
            st.repeat = repetition();
            return st;
        }
        if (at(TokenKind::Identifier)) {
            return invoke(std::move(st));
        }
        throw UserError(peek().location, "expected a layer, got " + describe(peek()),
                        "a statement is a layer ('conv 64 3x3'), a block call, 'let', 'if', "
                        "'residual', 'concat {', 'add {' or a '{' group");
    }

    Statement let(Statement st) {
        take();
        st.kind = StatementKind::Let;
        Token name = expect(TokenKind::Identifier, "a variable name after 'let'");
        st.variable = name.text;
        st.label_location = name.location;
        expect(TokenKind::Assign, "'=' after 'let " + name.text + "'");
        st.value = expression();
        return st;
    }

    Statement conditional(Statement st) {
        take();
        st.kind = StatementKind::If;
        st.condition = expression();
        st.body = braced_body("the 'if' body");
        if (at_word("else")) {
            take();
            if (at_word("if")) {
                // An `else if` chain nests, and so does its elaboration.
                DepthGuard guard(*this, peek().location);
                Statement nested;
                nested.location = peek().location;
                st.else_body.push_back(conditional(std::move(nested)));
            } else {
                st.else_body = braced_body("the 'else' body");
            }
        }
        return st;
    }

    Statement residual(Statement st) {
        take();
        st.kind = StatementKind::Residual;
        if (at_word("if")) {
            take();
            st.condition = expression();
        }
        st.body = braced_body("the residual body");
        if (at_word("shortcut")) {
            take();
            st.has_shortcut = true;
            if (at_word("if")) {
                take();
                st.shortcut_condition = expression();
            }
            st.shortcut_body = braced_body("the shortcut");
        }
        return st;
    }

    Statement branches(Statement st) {
        st.kind = StatementKind::Branches;
        st.join = take().text;
        if (at_word("split")) {
            take();
            st.split = true;
        }
        st.body = braced_body("the branches of '" + st.join + "'");
        if (st.body.empty()) {
            throw UserError(st.location, "'" + st.join + "' needs at least one branch");
        }
        return st;
    }

    Statement invoke(Statement st) {
        Token callee = take();
        st.kind = StatementKind::Invoke;
        st.callee = callee.text;
        st.callee_location = callee.location;
        if (at(TokenKind::LeftParen) && !peek().space_before) {
            take();
            if (!at(TokenKind::RightParen)) {
                do {
                    st.arguments.push_back(argument());
                } while (accept(TokenKind::Comma));
            }
            expect(TokenKind::RightParen, "',' or ')' after the argument",
                   "arguments of a call are separated by commas");
            st.repeat = repetition();
        } else {
            while (!at(TokenKind::Newline) && !at(TokenKind::RightBrace) && !at(TokenKind::End) &&
                   !at(TokenKind::Arrow)) {
                // `relu * 2`: no argument starts with '*'; elaboration says
                // whether NAME can be repeated.
                if (at(TokenKind::Star)) {
                    st.repeat = repetition();
                    break;
                }
                st.arguments.push_back(argument());
            }
        }
        if (accept(TokenKind::Arrow)) {
            do {
                st.references.push_back(reference());
            } while (accept(TokenKind::Comma));
        }
        return st;
    }

    ExprPtr repetition() {
        if (accept(TokenKind::Star)) {
            return expression();
        }
        return nullptr;
    }

    Argument argument() {
        Argument arg;
        if (at(TokenKind::Identifier) && peek(1).kind == TokenKind::Assign) {
            Token name = take();
            take();
            arg.name = name.text;
            arg.name_location = name.location;
        }
        arg.value = expression();
        return arg;
    }

    Reference reference() {
        Reference ref;
        Token path = expect(TokenKind::Identifier, "the name of an earlier layer after '<-'");
        ref.path = path.text;
        ref.location = path.location;
        if (at(TokenKind::LeftBracket) && !peek().space_before) {
            take();
            ref.index = expression();
            expect(TokenKind::RightBracket, "']' after the output index");
        }
        return ref;
    }

    // --- expressions, lowest precedence first ---

    ExprPtr expression() {
        DepthGuard guard(*this, peek().location);
        return binary_level(0);
    }

    // Each level lists its operators; level 5 is unary.
    static const std::vector<std::vector<TokenKind>> &levels() {
        static const std::vector<std::vector<TokenKind>> table = {
            {TokenKind::Or},
            {TokenKind::And},
            {TokenKind::Equal, TokenKind::NotEqual, TokenKind::Less, TokenKind::LessEqual,
             TokenKind::Greater, TokenKind::GreaterEqual},
            {TokenKind::Plus, TokenKind::Minus},
            {TokenKind::Star, TokenKind::Slash, TokenKind::Percent},
        };
        return table;
    }

    ExprPtr binary_level(size_t level) {
        if (level == levels().size()) {
            return unary();
        }
        ExprPtr lhs = binary_level(level + 1);
        // `1 + 1 + 1` is `(1 + 1) + 1`: each operator of a chain nests the
        // tree one level deeper, and evaluating it recurses that deep.
        int chained = 0;
        while (true) {
            const auto &ops = levels()[level];
            if (std::find(ops.begin(), ops.end(), peek().kind) == ops.end()) {
                depth_ -= chained;
                return lhs;
            }
            Token op = take();
            enter(op.location);
            ++chained;
            ExprPtr rhs = binary_level(level + 1);
            auto node = std::make_unique<Expr>();
            node->kind = ExprKind::Binary;
            node->op = op.text;
            node->location = span(lhs->location, rhs->location);
            node->text = source_text(node->location);
            node->lhs = std::move(lhs);
            node->rhs = std::move(rhs);
            lhs = std::move(node);
        }
    }

    ExprPtr unary() {
        if (at(TokenKind::Minus) || at(TokenKind::Not)) {
            DepthGuard guard(*this, peek().location);
            Token op = take();
            ExprPtr operand = unary();
            auto node = std::make_unique<Expr>();
            node->kind = ExprKind::Unary;
            node->op = op.text;
            node->location = span(op.location, operand->location);
            node->text = source_text(node->location);
            node->lhs = std::move(operand);
            return node;
        }
        return primary();
    }

    ExprPtr primary() {
        auto node = std::make_unique<Expr>();
        node->location = peek().location;
        node->text = peek().text;
        switch (peek().kind) {
        case TokenKind::Integer:
            node->kind = ExprKind::Integer;
            node->integer = take().integer;
            return node;
        case TokenKind::Float:
            node->kind = ExprKind::Float;
            node->real = take().real;
            return node;
        case TokenKind::Dims:
            node->kind = ExprKind::Dims;
            node->dims = take().dims;
            return node;
        case TokenKind::Identifier: {
            Token name = take();
            if (name.text == "true" || name.text == "false") {
                node->kind = ExprKind::Bool;
                node->boolean = name.text == "true";
            } else {
                node->kind = ExprKind::Variable;
                node->name = name.text;
            }
            return node;
        }
        case TokenKind::LeftParen: {
            Token open = take();
            ExprPtr inner = expression();
            Token close = expect(TokenKind::RightParen, "')' to close the parenthesis");
            inner->location = span(open.location, close.location);
            inner->text = source_text(inner->location);
            return inner;
        }
        default:
            throw UserError(peek().location, "expected a value, got " + describe(peek()),
                            "values are integers, numbers, dimensions like 3x3, true, false "
                            "or names of parameters");
        }
    }

    // The location covering `first` to `last` when both are on one line;
    // otherwise just `first`.
    static SourceLocation span(const SourceLocation &first, const SourceLocation &last) {
        SourceLocation loc = first;
        if (first.line == last.line && last.column >= first.column) {
            loc.length = last.column + last.length - first.column;
        }
        return loc;
    }

    // The line is cached: a long line holds many expressions, and copying it
    // for each one would take quadratic time.
    std::string source_text(const SourceLocation &loc) {
        if (loc.line != cached_line_number_) {
            cached_line_ = file_->line_text(loc.line);
            cached_line_number_ = loc.line;
        }
        size_t begin = static_cast<size_t>(std::max(0, loc.column - 1));
        return begin < cached_line_.size() ? cached_line_.substr(begin, loc.length) : std::string();
    }

    std::shared_ptr<const SourceFile> file_;
    std::vector<Token> tokens_;
    size_t pos_ = 0;
    int depth_ = 0;
    int cached_line_number_ = 0;
    std::string cached_line_;
};

} // namespace

Program parse_program(const std::shared_ptr<const SourceFile> &file) {
    return Parser(file, tokenize(file)).program();
}

} // namespace strata
