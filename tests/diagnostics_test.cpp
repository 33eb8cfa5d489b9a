// Every user-facing error of the .strata front end (lexer, parser,
// evaluation, layer arguments, elaboration, shape inference), each triggered
// by a small text: the message, its location and, for some, the whole
// rendered diagnostic. Then a robustness test that mutates the example
// networks and requires a graph or a UserError, never anything else.
#include "frontend.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace strata;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

// The UserError that loading `text` throws; fails the test if there is none.
UserError error_of(const std::string &text) {
    try {
        load_strata_text("net.strata", text);
    } catch (const UserError &error) {
        return error;
    }
    FAIL("expected a UserError for:\n" << text);
    throw std::logic_error("unreachable");
}

// "line:column" of the error's location, for compact checks.
std::string at(const UserError &error) {
    return std::to_string(error.location().line) + ":" + std::to_string(error.location().column);
}

// A network header followed by `body`, so that most cases are one line.
std::string net(const std::string &body) {
    return "input 3x8x8\n" + body + "\n";
}

std::string repeated(const std::string &text, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) {
        out += text;
    }
    return out;
}

} // namespace

// --- rendering ---

TEST_CASE("the documented example renders with source line, caret and help", "[diagnostics]") {
    UserError e = error_of("input 3x8x8\n\nconv 3x3 stride=2\n");
    CHECK(e.message() == "conv expects an output channel count for 'out', got '3x3'");
    CHECK(at(e) == "3:6");
    CHECK(e.location().length == 3);
    CHECK(e.render() == "net.strata:3:6: error: conv expects an output channel count for 'out', "
                        "got '3x3'\n"
                        " 3 | conv 3x3 stride=2\n"
                        "   |      ^~~\n"
                        "help: for example: conv 64 3x3 stride=2 pad=1 bias=false\n");
}

TEST_CASE("a caret lines up under tabs and long line numbers", "[diagnostics]") {
    std::string text = "input 3x8x8\n" + repeated("relu\n", 8) + "\tconv 8 3x3 strid=2\n";
    UserError e = error_of(text);
    CHECK(at(e) == "10:13");
    CHECK(e.render() == "net.strata:10:13: error: conv has no argument 'strid'\n"
                        " 10 |  conv 8 3x3 strid=2\n"
                        "    |             ^~~~~\n"
                        "help: did you mean 'stride'? its arguments are: out, kernel, stride, "
                        "pad, dilation, groups, bias\n");
}

TEST_CASE("an error without a location renders with the program's name", "[diagnostics]") {
    UserError e("something is wrong", "fix it");
    CHECK(e.render() == "strata: error: something is wrong\nhelp: fix it\n");
    CHECK_FALSE(e.location().known());
}

// --- lexer ---

TEST_CASE("lexer: unexpected characters", "[diagnostics]") {
    UserError e = error_of(net("conv 8 3x3 $"));
    CHECK(e.message() == "unexpected character '$'");
    CHECK(at(e) == "2:12");

    e = error_of(net("if 1 < 2 & true { relu }"));
    CHECK(e.message() == "unexpected character '&'");
    CHECK(e.help() == "write '&&' for the logical operator");
    CHECK(at(e) == "2:10");

    e = error_of(net("if true | false { relu }"));
    CHECK(e.help() == "write '||' for the logical operator");

    e = error_of(net("relu " + std::string(1, '\0')));
    CHECK(e.message() == "unexpected character byte 0");
    CHECK(at(e) == "2:6");

    e = error_of(net("relu \xff"));
    CHECK(e.message() == "unexpected character byte 255");
}

TEST_CASE("lexer: malformed numbers", "[diagnostics]") {
    UserError e = error_of(net("conv 8 3y3"));
    CHECK(e.message() == "malformed number '3y3'");
    CHECK(e.help() == "names start with a letter; dimensions are written like 3x3");
    CHECK(at(e) == "2:8");
    CHECK(e.location().length == 3);

    e = error_of(net("1conv: relu"));
    CHECK(e.message() == "malformed number '1conv'");
    CHECK(at(e) == "2:1");
}

TEST_CASE("lexer: integers too large for 64 bits", "[diagnostics]") {
    UserError e = error_of(net("conv 99999999999999999999 3x3"));
    CHECK(e.message() == "integer '99999999999999999999' is too large");
    CHECK(at(e) == "2:6");

    e = error_of(net("conv 8 3x99999999999999999999"));
    CHECK(e.message() == "integer '99999999999999999999' is too large");
    CHECK(at(e) == "2:8");

    // The largest int64 is fine as a literal (its use is checked later).
    e = error_of(net("conv 9223372036854775807 1x1"));
    CHECK_THAT(e.message(), Contains("has more than 2^32 elements"));
}

// --- parser ---

TEST_CASE("parser: 'inline' must be followed by 'block'", "[diagnostics]") {
    UserError e = error_of("input 3x8x8\ninline blok b() { relu }\n");
    CHECK(e.message() == "expected 'block' after 'inline', got 'blok'");
    CHECK(at(e) == "2:8");
}

TEST_CASE("parser: the input comes before the first layer and exactly once", "[diagnostics]") {
    UserError e = error_of("conv 8 3x3\ninput 3x8x8\n");
    CHECK(e.message() == "the network's input must be declared before its first layer");
    CHECK(e.help() == "add a line such as 'input 3x224x224' above this one");
    CHECK(at(e) == "1:1");

    e = error_of("network tiny\n# no input\n");
    CHECK(e.message() == "the file declares no input");
    CHECK(at(e) == "3:1");

    e = error_of("");
    CHECK(e.message() == "the file declares no input");
    CHECK(at(e) == "1:1");

    e = error_of("input 3x8x8\ninput 3x8x8\nrelu\n");
    CHECK(e.message() == "the network's input is declared twice");
    CHECK(at(e) == "2:1");
}

TEST_CASE("parser: the input shape", "[diagnostics]") {
    UserError e = error_of("input foo\nrelu\n");
    CHECK(e.message() == "expected the input shape after 'input', got 'foo'");
    CHECK(e.help() == "write channels x height x width, e.g. 'input 3x224x224'");
    CHECK(at(e) == "1:7");

    e = error_of("input\nrelu\n");
    CHECK(e.message() == "expected the input shape after 'input', got end of line");

    e = error_of("input 1x3x8x8\nrelu\n");
    CHECK(e.message() == "the input shape must be CxHxW or a feature count, got '1x3x8x8'");
    CHECK(e.help() == "the batch is always 1 and is not written: 'input 3x224x224'");
    CHECK(at(e) == "1:7");

    e = error_of("input 3x8\nrelu\n");
    CHECK_THAT(e.message(), Contains("got '3x8'"));

    e = error_of("input 3x0x8\nrelu\n");
    CHECK(e.message() == "input dimensions must be positive, got '3x0x8'");
    CHECK(at(e) == "1:7");

    e = error_of("input 0\nrelu\n");
    CHECK(e.message() == "input dimensions must be positive, got '0'");
}

TEST_CASE("parser: the network's name", "[diagnostics]") {
    UserError e = error_of("network a\nnetwork b\ninput 3x8x8\nrelu\n");
    CHECK(e.message() == "the network's name is declared twice");
    CHECK(at(e) == "2:1");

    e = error_of("network 5\ninput 3x8x8\nrelu\n");
    CHECK(e.message() == "expected the network's name after 'network', got '5'");
    CHECK(at(e) == "1:9");
}

TEST_CASE("parser: expected tokens", "[diagnostics]") {
    UserError e = error_of(net("block (x) { relu }"));
    CHECK(e.message() == "expected the block's name after 'block', got '('");
    CHECK(at(e) == "2:7");

    e = error_of(net("block b { relu }"));
    CHECK(e.message() == "expected '(' after the block's name, got '{'");
    CHECK(e.help() == "a block without parameters is written 'block b() { ... }'");

    e = error_of(net("block b(1) { relu }"));
    CHECK(e.message() == "expected a parameter name, got '1'");
    CHECK(at(e) == "2:9");

    e = error_of(net("block b(x y) { relu }"));
    CHECK(e.message() == "expected ',' or ')' in the parameter list, got 'y'");

    e = error_of(net("block b(x) relu"));
    CHECK(e.message() == "expected '{' to open the block's body, got 'relu'");
    CHECK(at(e) == "2:12");

    e = error_of(net("let = 3"));
    CHECK(e.message() == "expected a variable name after 'let', got '='");

    e = error_of(net("let x 3"));
    CHECK(e.message() == "expected '=' after 'let x', got '3'");
    CHECK(at(e) == "2:7");

    e = error_of(net("block b(x) { relu }\nb(1 2)"));
    CHECK(e.message() == "expected ',' or ')' after the argument, got '2'");
    CHECK(e.help() == "arguments of a call are separated by commas");
    CHECK(at(e) == "3:5");

    e = error_of(net("relu <- 5"));
    CHECK(e.message() == "expected the name of an earlier layer after '<-', got '5'");

    // Inside brackets a newline does not end the statement.
    e = error_of(net("s: split 2\nrelu <- s[0"));
    CHECK(e.message() == "expected ']' after the output index, got end of file");
    CHECK(at(e) == "4:1");

    e = error_of(net("s: split 2\nrelu <- s[0 1]"));
    CHECK(e.message() == "expected ']' after the output index, got '1'");
    CHECK(at(e) == "3:13");

    e = error_of(net("conv (8 3x3"));
    CHECK(e.message() == "expected ')' to close the parenthesis, got '3x3'");

    e = error_of(net("if true relu"));
    CHECK(e.message() == "expected '{' to open the 'if' body, got 'relu'");

    e = error_of(net("if true { relu } else relu"));
    CHECK(e.message() == "expected '{' to open the 'else' body, got 'relu'");

    e = error_of(net("residual relu"));
    CHECK(e.message() == "expected '{' to open the residual body, got 'relu'");

    e = error_of(net("residual { relu } shortcut relu"));
    CHECK(e.message() == "expected '{' to open the shortcut, got 'relu'");

    e = error_of(net("concat split relu"));
    CHECK(e.message() == "expected '{' to open the branches of 'concat', got 'relu'");
}

TEST_CASE("parser: end of statement", "[diagnostics]") {
    UserError e = error_of(net("relu }"));
    CHECK(e.message() == "expected end of line after the statement, got '}'");
    CHECK(e.help() == "put each layer on its own line, or separate them with ';'");
    CHECK(at(e) == "2:6");

    e = error_of(net("{ relu } relu"));
    CHECK(e.message() == "expected end of line after the statement, got 'relu'");
    CHECK(at(e) == "2:10");
}

TEST_CASE("parser: unclosed braces", "[diagnostics]") {
    UserError e = error_of(net("{ relu"));
    CHECK(e.message() == "expected '}' to close the group, got end of file");
    CHECK(at(e) == "3:1");

    e = error_of("input 3x8x8\nblock b() {\n    relu\n");
    CHECK(e.message() == "expected '}' to close the block's body, got end of file");
}

TEST_CASE("parser: 'let' and 'if' take no label", "[diagnostics]") {
    UserError e = error_of(net("x: let y = 1"));
    CHECK(e.message() == "'let' cannot be labelled");
    CHECK(e.help() == "labels name layers, blocks and groups");
    CHECK(at(e) == "2:1");

    e = error_of(net("x: if true { relu }"));
    CHECK(e.message() == "'if' cannot be labelled");
}

TEST_CASE("parser: a statement must start like one", "[diagnostics]") {
    UserError e = error_of(net("5"));
    CHECK(e.message() == "expected a layer, got '5'");
    CHECK_THAT(e.help(), StartsWith("a statement is a layer ('conv 64 3x3')"));
    CHECK(at(e) == "2:1");

    e = error_of(net("x:"));
    CHECK(e.message() == "expected a layer, got end of line");
}

TEST_CASE("parser: a join needs a branch", "[diagnostics]") {
    UserError e = error_of(net("concat { }"));
    CHECK(e.message() == "'concat' needs at least one branch");
    CHECK(at(e) == "2:1");

    e = error_of(net("x: add split { }"));
    CHECK(e.message() == "'add' needs at least one branch");
    CHECK(at(e) == "2:1");
}

TEST_CASE("parser: values", "[diagnostics]") {
    UserError e = error_of(net("conv 8 3x3 pad=)"));
    CHECK(e.message() == "expected a value, got ')'");
    CHECK_THAT(e.help(), StartsWith("values are integers, numbers, dimensions like 3x3"));
    CHECK(at(e) == "2:16");

    e = error_of(net("conv 8 3x3 pad="));
    CHECK(e.message() == "expected a value, got end of line");
}

TEST_CASE("parser: nesting too deep", "[diagnostics]") {
    UserError e = error_of(net("conv " + repeated("(", 300) + "8" + repeated(")", 300) + " 1x1"));
    CHECK_THAT(e.message(), StartsWith("nesting is too deep (more than 200 levels"));
    CHECK(e.location().line == 2);

    e = error_of(net(repeated("{ ", 300) + "relu" + repeated(" }", 300)));
    CHECK_THAT(e.message(), StartsWith("nesting is too deep"));

    e = error_of(net("conv " + repeated("-", 300) + "8 1x1"));
    CHECK_THAT(e.message(), StartsWith("nesting is too deep"));

    // A flat chain of operators nests too: `1 + 1 + 1` is `(1 + 1) + 1`.
    e = error_of(net("conv 1" + repeated(" + 1", 100000) + " 1x1"));
    CHECK_THAT(e.message(), StartsWith("nesting is too deep"));

    // So does a chain of `else if`s.
    e = error_of(net("if false { relu }" + repeated(" else if false { relu }", 100000)));
    CHECK_THAT(e.message(), StartsWith("nesting is too deep"));
}

TEST_CASE("parser: reasonable nesting is accepted", "[diagnostics]") {
    Graph graph = load_strata_text(
        "net.strata", net("conv " + repeated("(", 150) + "8" + repeated(")", 150) + " 1x1" + "\n" +
                          repeated("{ ", 150) + "relu" + repeated(" }", 150) + "\n" + "conv 1" +
                          repeated(" + 1", 150) + " 1x1\n" + "if false { relu }" +
                          repeated(" else if false { relu }", 150)));
    CHECK(graph.output_node().shape.dims == std::vector<int64_t>{1, 151, 8, 8});
}

// --- evaluation ---

TEST_CASE("evaluate: names defined twice", "[diagnostics]") {
    UserError e = error_of(net("let x = 1\nlet x = 2\nrelu"));
    CHECK(e.message() == "'x' is already defined");
    CHECK(e.help() == "choose another name; values cannot be reassigned");
    CHECK(at(e) == "3:5");

    e = error_of(net("block b(x) { relu }\nb(1, x=2)"));
    CHECK(e.message() == "parameter 'x' of block 'b' is given twice");
}

TEST_CASE("evaluate: division by zero and overflow", "[diagnostics]") {
    UserError e = error_of(net("conv 8 / 0 3x3"));
    CHECK(e.message() == "division by zero in '8 / 0'");
    CHECK(at(e) == "2:6");
    CHECK(e.location().length == 5);

    e = error_of(net("conv 8 % (2 - 2) 3x3"));
    CHECK(e.message() == "division by zero in '8 % (2 - 2)'");

    e = error_of(net("let x = 1.5 / 0\nrelu"));
    CHECK(e.message() == "division by zero in '1.5 / 0'");
    CHECK(at(e) == "2:9");

    e = error_of(net("let x = 9223372036854775807 + 1\nrelu"));
    CHECK(e.message() == "integer overflow in '9223372036854775807 + 1'");
    CHECK(at(e) == "2:9");

    e = error_of(net("let x = 4294967296 * 4294967296\nrelu"));
    CHECK(e.message() == "integer overflow in '4294967296 * 4294967296'");

    e = error_of(net("let m = -9223372036854775807 - 1\nlet x = -m\nrelu"));
    CHECK(e.message() == "integer overflow in '-m'");

    e = error_of(net("let m = -9223372036854775807 - 1\nlet x = m / -1\nrelu"));
    CHECK(e.message() == "integer overflow in 'm / -1'");
}

TEST_CASE("evaluate: operands of the wrong kind", "[diagnostics]") {
    UserError e = error_of(net("conv 8 + true 3x3"));
    CHECK(e.message() ==
          "operator '+' cannot be applied to an integer and true or false in '8 + true'");
    CHECK(e.help() == "arithmetic takes numbers, '&&', '||' and '!' take true or false");
    CHECK(at(e) == "2:6");

    e = error_of(net("if !1 { relu }"));
    CHECK(e.message() == "operator '!' cannot be applied to an integer in '!1'");

    e = error_of(net("if 1 && true { relu }"));
    CHECK(e.message() == "operator '&&' cannot be applied to an integer in '1 && true'");

    e = error_of(net("if false || 2 { relu }"));
    CHECK(e.message() ==
          "operator '||' cannot be applied to true or false and an integer in 'false || 2'");

    e = error_of(net("if 3x3 < 4 { relu }"));
    CHECK(e.message() ==
          "operator '<' cannot be applied to dimensions and an integer in '3x3 < 4'");

    e = error_of(net("if 3x3 == true { relu }"));
    CHECK_THAT(e.message(), StartsWith("operator '==' cannot be applied to dimensions and true"));

    e = error_of(net("let k = -3x3\nrelu"));
    CHECK(e.message() == "operator '-' cannot be applied to dimensions in '-3x3'");

    // `8 -3x3` is a subtraction, as in most languages.
    e = error_of(net("conv 8 -3x3"));
    CHECK(e.message() == "operator '-' cannot be applied to an integer and dimensions in '8 -3x3'");

    e = error_of(net("let x = 1.5 % 2\nrelu"));
    CHECK(e.message() == "'%' takes integers, in '1.5 % 2'");
    CHECK(at(e) == "2:9");
}

TEST_CASE("evaluate: unknown names", "[diagnostics]") {
    UserError e = error_of(net("conv channels 3x3"));
    CHECK(e.message() == "unknown name 'channels'");
    CHECK(e.help() == "values are block parameters or names defined with 'let'");
    CHECK(at(e) == "2:6");
    CHECK(e.location().length == 8);

    // A block does not see its caller's variables.
    e = error_of(net("block b() { conv c 1x1 }\nlayer: { let c = 4; b() }"));
    CHECK(e.message() == "unknown name 'c'");
    CHECK(at(e) == "2:18");
}

// --- layer arguments ---

TEST_CASE("layers: ill-typed and out-of-range arguments", "[diagnostics]") {
    UserError e = error_of(net("conv 0 3x3"));
    CHECK(e.message() == "conv expects an output channel count for 'out', got '0'");

    e = error_of(net("conv 8 3x3x3"));
    CHECK(e.message() == "conv expects a kernel size such as 3x3 for 'kernel', got '3x3x3'");
    CHECK(at(e) == "2:8");

    e = error_of(net("conv 8 3x3 stride=0"));
    CHECK(e.message() == "conv expects a stride such as 2 or 2x2 for 'stride', got '0'");
    CHECK(at(e) == "2:19");

    e = error_of(net("conv 8 3x3 pad=-1"));
    CHECK(e.message() == "conv expects a padding such as 1 or 1x2 for 'pad', got '-1'");

    e = error_of(net("conv 8 3x3 pad=1.5"));
    CHECK(e.message() == "conv expects a padding such as 1 or 1x2 for 'pad', got '1.5'");

    e = error_of(net("conv 8 3x3 dilation=0x1"));
    CHECK(e.message() == "conv expects a dilation such as 2 or 2x2 for 'dilation', got '0x1'");

    e = error_of(net("conv 8 3x3 bias=1"));
    CHECK(e.message() == "conv expects true or false for 'bias', got '1'");
    CHECK(e.help() == "for example: conv 64 3x3 stride=2 pad=1 bias=false");

    e = error_of(net("batchnorm eps=true"));
    CHECK(e.message() ==
          "batchnorm expects a small positive number such as 1e-5 for 'eps', got 'true'");

    e = error_of(net("maxpool 3x3 ceil=1"));
    CHECK(e.message() == "maxpool expects true or false for 'ceil', got '1'");

    e = error_of(net("shuffle groups=2x2"));
    CHECK(e.message() == "shuffle expects a group count for 'groups', got '2x2'");
}

TEST_CASE("layers: too many positional arguments", "[diagnostics]") {
    UserError e = error_of(net("relu 5"));
    CHECK(e.message() == "relu takes at most 0 positional arguments (none), got another: '5'");
    CHECK(e.help() == "for example: relu");
    CHECK(at(e) == "2:6");

    e = error_of(net("linear 10 true 3"));
    CHECK(e.message() ==
          "linear takes at most 2 positional arguments (out, bias), got another: '3'");
    CHECK(at(e) == "2:16");
}

TEST_CASE("layers: unknown argument names, with a suggestion", "[diagnostics]") {
    UserError e = error_of(net("conv 8 3x3 strid=2"));
    CHECK(e.message() == "conv has no argument 'strid'");
    CHECK_THAT(e.help(), StartsWith("did you mean 'stride'? its arguments are: out, kernel"));
    CHECK(at(e) == "2:12");
    CHECK(e.location().length == 5);

    // Only the nearest is suggested.
    e = error_of(net("maxpool 3x3 cel=true"));
    CHECK(e.help() == "did you mean 'ceil'? its arguments are: kernel, stride, pad, dilation, "
                      "ceil");

    e = error_of(net("relu inplace=true"));
    CHECK(e.message() == "relu has no argument 'inplace'");
    CHECK(e.help() == "its arguments are: none");
}

TEST_CASE("layers: arguments given twice", "[diagnostics]") {
    UserError e = error_of(net("conv 8 3x3 out=4"));
    CHECK(e.message() == "argument 'out' of conv is given twice");
    CHECK(at(e) == "2:12");

    e = error_of(net("conv 8 3x3 pad=1 pad=2"));
    CHECK(e.message() == "argument 'pad' of conv is given twice");
    CHECK(at(e) == "2:18");
}

TEST_CASE("layers: missing arguments", "[diagnostics]") {
    UserError e = error_of(net("conv"));
    CHECK(e.message() == "conv needs an output channel count ('out')");
    CHECK(at(e) == "2:1");

    e = error_of(net("conv 8"));
    CHECK(e.message() == "conv needs a kernel size such as 3x3 ('kernel')");

    e = error_of(net("split"));
    CHECK(e.message() == "split needs a number of equal channel parts ('parts')");
    CHECK(e.help() == "for example: s: split 2");
}

TEST_CASE("layers: real arguments out of range", "[diagnostics]") {
    UserError e = error_of(net("batchnorm eps=0"));
    CHECK(e.message() == "batchnorm needs eps in (0, 1], got '0'");
    CHECK(at(e) == "2:15");

    e = error_of(net("batchnorm eps=2"));
    CHECK(e.message() == "batchnorm needs eps in (0, 1], got '2'");

    e = error_of(net("dropout p=1.5"));
    CHECK(e.message() == "dropout needs p in [0, 1], got '1.5'");
    CHECK(at(e) == "2:11");

    e = error_of(net("dropout p=-0.5"));
    CHECK(e.message() == "dropout needs p in [0, 1], got '-0.5'");

    // Not a number: inf - inf.
    e = error_of(net("dropout p=1e400 - 1e400"));
    CHECK_THAT(e.message(), StartsWith("dropout needs p in [0, 1], got '"));
}

TEST_CASE("layers: conv groups must divide the output channels", "[diagnostics]") {
    UserError e = error_of(net("conv 10 3x3 groups=4"));
    CHECK(e.message() == "conv's output channels (10) must be divisible by groups=4");
    CHECK(at(e) == "2:20");
}

TEST_CASE("layers: pooling padding at most half the kernel", "[diagnostics]") {
    UserError e = error_of(net("maxpool 3x3 pad=2"));
    CHECK(e.message() == "maxpool's padding (2x2) must be at most half its kernel (3x3)");
    CHECK(at(e) == "2:17");

    e = error_of(net("avgpool 2x4 pad=1x3"));
    CHECK(e.message() == "avgpool's padding (1x3) must be at most half its kernel (2x4)");

    // Checked without overflow for huge paddings.
    e = error_of(net("maxpool 3x3 pad=9223372036854775807"));
    CHECK_THAT(e.message(), StartsWith("maxpool's padding (9223372036854775807x"));

    CHECK(load_strata_text("net.strata", net("maxpool 3x3 pad=1")).nodes.size() == 2);
    CHECK(load_strata_text("net.strata", net("maxpool 2x2 pad=1")).nodes.size() == 2);
}

// --- elaboration ---

TEST_CASE("elaborate: block definitions", "[diagnostics]") {
    UserError e = error_of(net("block relu() { identity }\nrelu"));
    CHECK(e.message() == "block 'relu' has the name of a built-in layer");
    CHECK(e.help() == "rename the block");
    CHECK(at(e) == "2:7");

    e = error_of(net("block b() { relu }\nblock b() { relu }\nb()"));
    CHECK(e.message() == "block 'b' is defined twice");
    CHECK(at(e) == "3:7");
}

TEST_CASE("elaborate: a network without layers", "[diagnostics]") {
    UserError e = error_of("input 3x8x8\n");
    CHECK(e.message() == "the network has no layers");
    CHECK(at(e) == "1:7");

    e = error_of("input 3x8x8\nlet x = 1\nif false { relu }\n");
    CHECK(e.message() == "the network has no layers");
}

TEST_CASE("elaborate: names must be unique", "[diagnostics]") {
    UserError e = error_of(net("a: relu\na: relu"));
    CHECK(e.message() == "the name 'a' is already used");
    CHECK(e.help() == "give this layer a different label");
    CHECK(at(e) == "3:1");

    e = error_of(net("input: relu"));
    CHECK(e.message() == "the name 'input' is already used");

    e = error_of(net("block b() { relu }\nlayer1: b() * 2\nlayer1: relu"));
    CHECK(e.message() == "the name 'layer1' is already used");

    e = error_of(net("s: split 2\ns.0: relu <- s[0]"));
    CHECK(e.message() == "the name 's.0' is already used");
}

TEST_CASE("elaborate: an inline block takes no label", "[diagnostics]") {
    UserError e = error_of(net("inline block f() { relu }\nx: f()"));
    CHECK(e.message() ==
          "the layers of inline block 'f' take their names in the caller, so it cannot be "
          "labelled");
    CHECK(e.help() == "remove the label, or make 'f' a plain block");
    CHECK(at(e) == "3:1");
}

TEST_CASE("elaborate: runaway recursion", "[diagnostics]") {
    UserError e = error_of(net("block b() { relu; b() }\nb()"));
    CHECK(e.message() == "block calls are nested more than 64 deep");
    CHECK(e.help() == "a block that calls itself needs a condition that stops it");
    CHECK(at(e) == "2:19");
    REQUIRE(e.notes().size() == 64);
    CHECK(e.notes().back().message == "in the instance of block 'b' called here");
    CHECK(e.notes().back().location.line == 3);

    // Deep groups inside each level of a recursion: nesting, not call depth.
    e = error_of(net("block b(n) { relu; if n > 0 { " + repeated("{ ", 150) + "b(n - 1)" +
                     repeated(" }", 150) + " } }\nb(60)"));
    CHECK_THAT(e.message(), StartsWith("statements are nested more than 500 deep"));

    // A recursion that stops is fine.
    Graph graph = load_strata_text("net.strata",
                                   net("block b(n) { relu; if n > 1 { b(n - 1) } }\nchain: b(30)"));
    CHECK(graph.nodes.size() == 31);
    CHECK(graph.find("chain.1.1.1.0") >= 0);
}

TEST_CASE("elaborate: block arguments", "[diagnostics]") {
    UserError e = error_of(net("block b(x) { relu }\nb(1, 2)"));
    CHECK(e.message() == "block 'b' takes 1 argument, got more");
    CHECK(e.help() == "its parameters are: x");
    CHECK(at(e) == "3:6");

    e = error_of(net("block b() { relu }\nb(1)"));
    CHECK(e.message() == "block 'b' takes 0 arguments, got more");

    e = error_of(net("block b(channels) { relu }\nb(chanels=1)"));
    CHECK(e.message() == "block 'b' has no parameter 'chanels'");
    CHECK(e.help() == "its parameters are: channels");
    CHECK(at(e) == "3:3");

    e = error_of(net("block b(x) { relu }\nb(1, x=2)"));
    CHECK(e.message() == "parameter 'x' of block 'b' is given twice");
    CHECK(at(e) == "3:8");

    e = error_of(net("block b(x, y = 1) { relu }\nb(y=2)"));
    CHECK(e.message() == "block 'b' needs a value for 'x'");
    CHECK(e.help() == "its parameters are: x, y");
    CHECK(at(e) == "3:1");
    REQUIRE(e.notes().size() == 1);
    CHECK(e.notes()[0].message == "'b' is defined here");
    CHECK(e.notes()[0].location.line == 2);
    CHECK(e.notes()[0].location.column == 7);
}

TEST_CASE("elaborate: unknown layers and single layers repeated", "[diagnostics]") {
    UserError e = error_of(net("block basic() { relu }\nconvv 8 3x3"));
    CHECK(e.message() == "unknown layer or block 'convv'");
    CHECK_THAT(e.help(), StartsWith("built-in layers: conv, maxpool, avgpool"));
    CHECK_THAT(e.help(), Contains("; blocks: basic"));
    CHECK(at(e) == "3:1");

    e = error_of(net("relu * 2"));
    CHECK(e.message() == "a single layer cannot be repeated");
    CHECK(e.help() == "wrap it in a block or a '{ }' group: '{ relu } * N'");
    CHECK(at(e) == "2:8");

    e = error_of(net("conv(8, 1x1) * 2"));
    CHECK(e.message() == "a single layer cannot be repeated");
}

TEST_CASE("elaborate: how many inputs a layer reads", "[diagnostics]") {
    UserError e = error_of(net("relu\nadd"));
    CHECK(e.message() == "add needs 2 or more inputs, got 1");
    CHECK(e.help() == "name its inputs: 'add <- a, b', or join branches with 'add { ... }'");
    CHECK(at(e) == "3:1");

    e = error_of(net("concat <- input"));
    CHECK(e.message() == "concat needs 2 or more inputs, got 1");

    e = error_of(net("a: relu\nconv 8 1x1 <- a, input"));
    CHECK(e.message() == "conv reads one input, got 2");
    CHECK(at(e) == "3:18");
}

TEST_CASE("elaborate: branches are statements that make layers", "[diagnostics]") {
    UserError e = error_of(net("concat { let x = 1; relu }"));
    CHECK(e.message() == "each line inside 'concat { }' is one branch");
    CHECK(e.help() == "put 'let' and 'if' outside, or wrap the branch in '{ }'");
    CHECK(at(e) == "2:10");

    e = error_of(net("add { relu\nif true { relu } }"));
    CHECK(e.message() == "each line inside 'add { }' is one branch");
    CHECK(at(e) == "3:1");
}

TEST_CASE("elaborate: splits must be read part by part", "[diagnostics]") {
    UserError e = error_of(net("s: split 2\nrelu"));
    CHECK(e.message() == "the layer above is a split with 2 outputs; say which one this reads");
    CHECK(e.help() == "label the split and read a part: 'conv 64 1x1 <- s[0]'");
    CHECK(at(e) == "3:1");

    e = error_of(net("s: split 3\nresidual { relu }"));
    CHECK(e.message() == "the layer above is a split with 3 outputs, which a residual cannot read");
    CHECK(at(e) == "3:1");

    e = error_of(net("s: split 3\nconcat { relu; relu }"));
    CHECK(e.message() ==
          "the layer above is a split with 3 outputs, which 'concat { }' cannot read");

    e = error_of(net("s: split 2\nconcat <- s, s"));
    CHECK(e.message() == "'s' is a split with 2 outputs");
    CHECK(e.help() == "pick one: 's[0]'");
    CHECK(at(e) == "3:11");

    e = error_of(net("a: relu\nrelu <- a[0]"));
    CHECK(e.message() == "'a' has one output and cannot be indexed");
    CHECK(e.help() == "write '<- a'");
    CHECK(at(e) == "3:11");

    e = error_of(net("s: split 2\nrelu <- s[2]"));
    CHECK(e.message() == "output index '2' of 's' is out of range");
    CHECK(e.help() == "it has outputs 0 to 1");
    CHECK(at(e) == "3:11");

    e = error_of(net("s: split 2\nrelu <- s[true]"));
    CHECK(e.message() == "output index 'true' of 's' is out of range");
}

TEST_CASE("elaborate: a sequence must not end with a split", "[diagnostics]") {
    UserError e = error_of(net("split 2"));
    CHECK(e.message() == "the network cannot end with a split of 2 outputs");
    CHECK(e.help() == "join the parts with 'concat <- s[0], s[1]'");
    CHECK(at(e) == "2:1");

    e = error_of(net("residual { split 3 }"));
    CHECK(e.message() == "a residual's body cannot end with a split of 3 outputs");

    e = error_of(net("residual { relu } shortcut { split 3 }"));
    CHECK(e.message() == "a residual's shortcut cannot end with a split of 3 outputs");

    e = error_of(net("concat { relu\nsplit 3 }"));
    CHECK(e.message() == "a branch cannot end with a split of 3 outputs");
    CHECK(at(e) == "3:1");
}

TEST_CASE("elaborate: references", "[diagnostics]") {
    UserError e = error_of(net("relu <- nothing"));
    CHECK(e.message() == "no earlier layer is called 'nothing'");
    CHECK(e.help() == "a reference names a labelled layer above it, or 'input'");
    CHECK(at(e) == "2:9");

    // A layer below is not earlier.
    e = error_of(net("relu <- b\nb: relu"));
    CHECK(e.message() == "no earlier layer is called 'b'");
}

TEST_CASE("elaborate: conditions and repetition counts", "[diagnostics]") {
    UserError e = error_of(net("if 1 { relu }"));
    CHECK(e.message() == "a condition must be true or false, got an integer '1'");
    CHECK(e.help() == "compare it: '1 != 0'");
    CHECK(at(e) == "2:4");

    e = error_of(net("residual if 2x2 { relu }"));
    CHECK(e.message() == "a condition must be true or false, got dimensions '2x2'");

    e = error_of(net("{ relu } * 0"));
    CHECK(e.message() == "expected a repetition count from 1 to 10000, got '0'");
    CHECK(at(e) == "2:12");

    e = error_of(net("{ relu } * 100000000"));
    CHECK(e.message() == "expected a repetition count from 1 to 10000, got '100000000'");

    e = error_of(net("block b() { relu }\nb() * 1.5"));
    CHECK(e.message() == "expected a repetition count from 1 to 10000, got '1.5'");
}

TEST_CASE("elaborate: limits on the size of the network", "[diagnostics]") {
    UserError e = error_of(net("{ { relu } * 1000 } * 1000"));
    CHECK(e.message() == "the network has more than 200000 layers");
    CHECK(at(e) == "2:5");

    // Repetitions that make no layers are bounded too.
    e = error_of(net("{ { { } * 10000 } * 10000 } * 10000"));
    CHECK(e.message() ==
          "the network expands to more than 1000000 statements, groups and block calls");
    CHECK(e.help() == "look for a repetition ('* N') or a recursive block that runs away");

    e = error_of(net("block e() { }\n{ e() * 10000 } * 10000"));
    CHECK_THAT(e.message(), StartsWith("the network expands to more than 1000000"));

    e = error_of(net("inline block e() { }\n{ e() * 10000 } * 10000"));
    CHECK_THAT(e.message(), StartsWith("the network expands to more than 1000000"));

    // Long labels nested deep, then repeated, would take gigabytes of names.
    std::string label = std::string(1000, 'a');
    std::string nested;
    for (int i = 0; i < 150; ++i) {
        nested += label + std::to_string(i) + ": { ";
    }
    e = error_of(net(nested + "{ relu } * 10000" + repeated(" }", 150)));
    CHECK(e.message() == "the network's layer names take more than 64 MiB");
    CHECK(e.help() == "shorten the labels, or look for a repetition ('* N') that runs away");
}

TEST_CASE("elaborate: many joins in one scope are named in linear time", "[diagnostics]") {
    // 190000 residual adds in the top scope: add, add_1, ..., add_189999.
    Graph graph = load_strata_text("net.strata", net("inline block r() { residual { } }\n"
                                                     "inline block r2() { r() * 10000 }\n"
                                                     "r2() * 19"));
    CHECK(graph.nodes.size() == 190001);
    CHECK(graph.find("add_189999") >= 0);
}

TEST_CASE("elaborate: a repeated group may define its own values", "[diagnostics]") {
    Graph graph = load_strata_text("net.strata", net("g: { let c = 4; conv c 1x1 } * 2"));
    CHECK(graph.find("g.1.0") >= 0);
    CHECK(graph.output_node().shape.dims == std::vector<int64_t>{1, 4, 8, 8});
}

// --- errors inside block instances carry notes ---

TEST_CASE("errors inside block instances name each call", "[diagnostics]") {
    std::string text = "input 3x8x8\n"
                       "block inner(c) {\n"
                       "    conv c 3x3 groups=4\n"
                       "}\n"
                       "block outer(c) {\n"
                       "    inner(c)\n"
                       "}\n"
                       "stage: outer(6)\n";
    UserError e = error_of(text);
    CHECK(e.message() == "conv's output channels (6) must be divisible by groups=4");
    CHECK(at(e) == "3:23");
    REQUIRE(e.notes().size() == 2);
    CHECK(e.notes()[0].message == "in the instance of block 'inner' called here");
    CHECK(e.notes()[0].location.line == 6);
    CHECK(e.notes()[0].location.column == 5);
    CHECK(e.notes()[1].message == "in the instance of block 'outer' called here");
    CHECK(e.notes()[1].location.line == 8);
    CHECK(e.render() == "net.strata:3:23: error: conv's output channels (6) must be divisible by "
                        "groups=4\n"
                        " 3 |     conv c 3x3 groups=4\n"
                        "   |                       ^\n"
                        "net.strata:6:5: note: in the instance of block 'inner' called here\n"
                        " 6 |     inner(c)\n"
                        "   |     ^~~~~\n"
                        "net.strata:8:8: note: in the instance of block 'outer' called here\n"
                        " 8 | stage: outer(6)\n"
                        "   |        ^~~~~\n");
}

TEST_CASE("shape errors inside block instances name each call", "[diagnostics]") {
    std::string text = "input 3x8x8\n"
                       "block unit(c) {\n"
                       "    residual { conv c 1x1 }\n"
                       "}\n"
                       "layer1: unit(3) * 2\n"
                       "layer2: unit(5)\n";
    UserError e = error_of(text);
    CHECK(e.message() == "add 'layer2.add' needs equal shapes, but conv 'layer2.0' gives "
                         "1x5x8x8 and add 'layer1.1.add' gives 1x3x8x8");
    CHECK(e.help() == "a residual whose body changes the shape needs a projection shortcut: "
                      "'shortcut { conv ... }'");
    CHECK(at(e) == "3:5");
    REQUIRE(e.notes().size() == 1);
    CHECK(e.notes()[0].message == "in the block called here");
    CHECK(e.notes()[0].location.line == 6);
    CHECK(e.notes()[0].location.column == 9);
}

// --- shape inference ---

TEST_CASE("shapes: feature maps and vectors", "[diagnostics]") {
    UserError e = error_of(net("flatten\nconv 8 1x1"));
    CHECK(e.message() == "conv '1' needs feature maps (NxCxHxW), but flatten '0' gives 1x192");
    CHECK(e.help() == "it cannot follow 'flatten' or 'linear'");
    CHECK(at(e) == "3:1");

    e = error_of("input 16\nmaxpool 2x2\n");
    CHECK(e.message() == "maxpool '0' needs feature maps (NxCxHxW), but the input gives 1x16");

    e = error_of(net("fc: linear 10"));
    CHECK(e.message() == "linear 'fc' needs a flat vector (NxF), but the input gives 1x3x8x8");
    CHECK(e.help() == "add 'flatten' before it, or 'global_avgpool' then 'flatten'");
    CHECK(at(e) == "2:1");
}

TEST_CASE("shapes: windows that do not fit", "[diagnostics]") {
    UserError e = error_of(net("conv 8 9x9"));
    CHECK(e.message() == "the 9x9 window of conv '0' (dilation 1x1, padding 0x0) does not fit "
                         "in its input: the input gives 1x3x8x8");
    CHECK_THAT(e.help(), StartsWith("use a smaller kernel or more padding"));
    CHECK(at(e) == "2:1");

    e = error_of(net("pool: maxpool 3x3 dilation=4"));
    CHECK_THAT(e.message(), StartsWith("the 3x3 window of maxpool 'pool' (dilation 4x4"));

    // A dilation so large that the span overflows 64 bits still does not fit.
    e = error_of(net("conv 8 3x3 dilation=5000000000000000000"));
    CHECK_THAT(e.message(), StartsWith("the 3x3 window of conv '0'"));
    CHECK_THAT(e.message(), Contains("does not fit"));
}

TEST_CASE("shapes: channel counts that must divide", "[diagnostics]") {
    UserError e = error_of(net("conv 8 3x3 groups=2"));
    CHECK(e.message() == "conv '0' has groups=2, which does not divide its 3 input channels: "
                         "the input gives 1x3x8x8");
    CHECK(at(e) == "2:1");

    e = error_of(net("shuffle groups=2"));
    CHECK(e.message() == "shuffle '0' has groups=2, which does not divide its 3 input "
                         "channels: the input gives 1x3x8x8");

    e = error_of(net("s: split 2\nrelu <- s[0]"));
    CHECK(e.message() == "slice 's.0' has parts=2, which does not divide its 3 input channels: "
                         "the input gives 1x3x8x8");

    e = error_of(net("concat split { relu; relu }"));
    CHECK_THAT(e.message(), StartsWith("slice 'split.0' has parts=2"));
}

TEST_CASE("shapes: joins need matching shapes", "[diagnostics]") {
    UserError e = error_of(net("a: conv 8 1x1\nadd <- a, input"));
    CHECK(e.message() == "add '1' needs equal shapes, but conv 'a' gives 1x8x8x8 and the input "
                         "gives 1x3x8x8");
    CHECK(at(e) == "3:1");

    e = error_of(net("a: maxpool 2x2\nj: concat <- a, input"));
    CHECK(e.message() == "concat 'j' joins along channels and needs all other dimensions equal, "
                         "but maxpool 'a' gives 1x3x4x4 and the input gives 1x3x8x8");
    CHECK(e.help().empty());
    CHECK(at(e) == "3:1");

    e = error_of(net("a: flatten\nconcat <- a, input"));
    CHECK_THAT(e.message(), Contains("joins along channels"));
}

TEST_CASE("shapes: tensors too large", "[diagnostics]") {
    UserError e = error_of("input 3x100000x100000\nrelu\n");
    CHECK(e.message() == "the output of the input, 1x3x100000x100000, has more than 2^32 elements");
    CHECK(at(e) == "1:7");

    e = error_of(net("conv 100000000 1x1"));
    CHECK(e.message() == "the output of conv '0', 1x100000000x8x8, has more than 2^32 elements");

    e = error_of(net("conv 8 3x3 pad=5000000000000000000"));
    CHECK_THAT(e.message(), Contains("has more than 2^32 elements"));

    e = error_of(net("linear 10 <- input"));
    CHECK_THAT(e.message(), Contains("needs a flat vector"));
}

// --- files ---

TEST_CASE("a file that cannot be opened", "[diagnostics]") {
    try {
        load_strata_file("/nonexistent/dir/net.strata");
        FAIL("expected a UserError");
    } catch (const UserError &e) {
        CHECK_THAT(e.message(), StartsWith("cannot open '/nonexistent/dir/net.strata': "));
        CHECK_FALSE(e.location().known());
        CHECK_THAT(e.render(), StartsWith("strata: error: cannot open"));
    }
}

// --- robustness ---

namespace {

// splitmix64: a fixed, portable sequence, so that a failure reproduces.
class Random {
  public:
    explicit Random(uint64_t seed) : state_(seed) {}

    uint64_t next() {
        uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }

  private:
    uint64_t state_;
};

std::vector<std::string> example_texts() {
    std::vector<std::filesystem::path> paths;
    for (const auto &entry :
         std::filesystem::directory_iterator(STRATA_SOURCE_DIR "/examples/networks")) {
        if (entry.path().extension() == ".strata") {
            paths.push_back(entry.path());
        }
    }
    std::sort(paths.begin(), paths.end());
    std::vector<std::string> texts;
    for (const auto &path : paths) {
        std::ifstream in(path, std::ios::binary);
        std::ostringstream text;
        text << in.rdbuf();
        texts.push_back(text.str());
    }
    return texts;
}

// The offsets where whitespace-separated words start.
std::vector<size_t> word_starts(const std::string &text) {
    std::vector<size_t> starts;
    for (size_t i = 0; i < text.size(); ++i) {
        bool space = std::isspace(static_cast<unsigned char>(text[i])) != 0;
        bool after_space = i == 0 || std::isspace(static_cast<unsigned char>(text[i - 1]));
        if (!space && after_space) {
            starts.push_back(i);
        }
    }
    return starts;
}

size_t word_end(const std::string &text, size_t begin) {
    size_t end = begin;
    while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end]))) {
        ++end;
    }
    return end;
}

// One random edit of `text`.
void mutate(std::string &text, Random &random) {
    static const std::vector<std::string> pieces = {"{",
                                                    "}",
                                                    "(",
                                                    ")",
                                                    "[",
                                                    "]",
                                                    ",",
                                                    ":",
                                                    ";",
                                                    "=",
                                                    "<-",
                                                    "*",
                                                    "-",
                                                    "/",
                                                    "%",
                                                    "!",
                                                    "&&",
                                                    "||",
                                                    "==",
                                                    "\n",
                                                    " ",
                                                    "#",
                                                    "x",
                                                    "0",
                                                    "1",
                                                    "3x3",
                                                    "-1",
                                                    "0x0",
                                                    "1.5",
                                                    "1e400",
                                                    "true",
                                                    "relu",
                                                    "split 2",
                                                    "s[5]",
                                                    "<- input",
                                                    "* 100000000",
                                                    "* 10000",
                                                    " * 2",
                                                    "9223372036854775807",
                                                    "99999999999999999999",
                                                    "let",
                                                    "if",
                                                    "else",
                                                    "residual",
                                                    "shortcut",
                                                    "concat",
                                                    "add",
                                                    "block",
                                                    "inline",
                                                    "input",
                                                    "network",
                                                    "conv",
                                                    "stride=",
                                                    "groups=",
                                                    "ceil=true",
                                                    "pad=",
                                                    std::string(1, '\0'),
                                                    "\xff",
                                                    "\t",
                                                    "\r"};
    size_t pos = random.below(text.size() + 1);
    switch (random.below(12)) {
    case 0: // delete a few characters
        text.erase(pos, 1 + random.below(6));
        break;
    case 1: // insert a piece of the language
        text.insert(pos, pieces[random.below(pieces.size())]);
        break;
    case 2: { // duplicate a stretch somewhere else
        size_t from = random.below(text.size() + 1);
        std::string stretch = text.substr(from, 1 + random.below(80));
        text.insert(random.below(text.size() + 1), stretch);
        break;
    }
    case 3: // swap two characters
        if (!text.empty()) {
            std::swap(text[random.below(text.size())], text[random.below(text.size())]);
        }
        break;
    case 4: { // delete, duplicate or swap whole words
        std::vector<size_t> starts = word_starts(text);
        if (starts.size() < 2) {
            break;
        }
        size_t a = starts[random.below(starts.size())];
        size_t b = starts[random.below(starts.size())];
        std::string word_a = text.substr(a, word_end(text, a) - a);
        std::string word_b = text.substr(b, word_end(text, b) - b);
        int kind = static_cast<int>(random.below(3));
        if (kind == 0) {
            text.erase(a, word_a.size());
        } else if (kind == 1) {
            text.insert(b, word_a + " ");
        } else if (a < b) {
            text.replace(b, word_b.size(), word_a);
            text.replace(a, word_a.size(), word_b);
        }
        break;
    }
    case 5: // truncate
        text.resize(pos);
        break;
    case 6: // random bytes
        for (size_t n = 1 + random.below(4); n > 0; --n) {
            text.insert(text.begin() + random.below(text.size() + 1),
                        static_cast<char>(random.below(256)));
        }
        break;
    case 7: { // very deep parentheses around a word
        size_t depth = random.below(2) ? 199 : 1000;
        std::vector<size_t> starts = word_starts(text);
        if (starts.empty()) {
            break;
        }
        size_t a = starts[random.below(starts.size())];
        text.insert(word_end(text, a), std::string(depth, ')'));
        text.insert(a, std::string(depth, '('));
        break;
    }
    case 8: { // very deep braces around a line
        size_t begin = text.rfind('\n', pos == 0 ? 0 : pos - 1);
        begin = begin == std::string::npos ? 0 : begin + 1;
        size_t end = text.find('\n', begin);
        end = end == std::string::npos ? text.size() : end;
        size_t depth = random.below(2) ? 100 : 400;
        text.insert(end, repeated(" }", static_cast<int>(depth)));
        text.insert(begin, repeated("{ ", static_cast<int>(depth)));
        break;
    }
    case 9: { // a huge repetition at the end of a line
        size_t end = text.find('\n', pos);
        text.insert(end == std::string::npos ? text.size() : end,
                    random.below(2) ? " * 100000000" : " * 1000");
        break;
    }
    case 10: { // make a block call itself
        size_t block = text.find("block ", random.below(text.size() + 1));
        if (block == std::string::npos) {
            block = text.find("block ");
        }
        if (block == std::string::npos) {
            text += "\nblock self(n) { relu; self(n + 1) }\nself(0)\n";
            break;
        }
        size_t name_begin = block + 6;
        size_t name_end = text.find('(', name_begin);
        size_t brace = text.find('{', name_begin);
        if (name_end == std::string::npos || brace == std::string::npos) {
            break;
        }
        std::string name = text.substr(name_begin, name_end - name_begin);
        text.insert(brace + 1, "\n" + name + "()\n");
        break;
    }
    default: { // replace a number with an extreme one
        static const std::vector<std::string> numbers = {
            "0",   "1",     "-1",  "2",    "7", "10000", "100000000", "9223372036854775807",
            "1x0", "3x3x3", "0.5", "1e-30"};
        size_t digit = text.find_first_of("0123456789", pos);
        if (digit == std::string::npos) {
            break;
        }
        size_t end = text.find_first_not_of("0123456789x.", digit);
        end = end == std::string::npos ? text.size() : end;
        text.replace(digit, end - digit, numbers[random.below(numbers.size())]);
        break;
    }
    }
}

} // namespace

TEST_CASE("mutated example networks load or fail with a user error", "[diagnostics]") {
    std::vector<std::string> texts = example_texts();
    REQUIRE(texts.size() >= 5);

    Random random(20240611);
    int loaded = 0;
    int rejected = 0;
    for (int round = 0; round < 3000; ++round) {
        std::string text = texts[random.below(texts.size())];
        for (size_t n = 1 + random.below(3); n > 0; --n) {
            mutate(text, random);
        }
        try {
            Graph graph = load_strata_text("net.strata", text);
            CHECK_FALSE(graph.output_node().shape.dims.empty());
            ++loaded;
        } catch (const UserError &error) {
            ++rejected;
            std::string rendered = error.render();
            if (error.message().empty() || rendered.rfind("net.strata:", 0) != 0 ||
                error.location().line < 1) {
                FAIL_CHECK("round " << round << ": bad diagnostic\n"
                                    << rendered << "for the text:\n"
                                    << text);
            }
        } catch (const std::exception &other) {
            FAIL_CHECK("round " << round << ": " << other.what() << "\nfor the text:\n" << text);
        } catch (...) {
            FAIL_CHECK("round " << round << ": not a std::exception\nfor the text:\n" << text);
        }
    }
    // Both outcomes must be common, or the mutations test little.
    CHECK(loaded > 200);
    CHECK(rejected > 1000);
}

TEST_CASE("a weight tensor too large to hold is refused at its layer", "[diagnostics]") {
    UserError e = error_of("input 8x4x4\nc: conv 8 100000x100000 pad=50000\n");
    CHECK_THAT(e.message(), Contains("the weight of conv 'c', 8x8x100000x100000, has more "
                                     "than 2^32 elements"));
    CHECK(e.location().line == 2);
}

TEST_CASE("a block with two parameters of one name is refused where it is defined",
          "[diagnostics]") {
    UserError e = error_of("block b(x, x) { relu }\ninput 3x4x4\nrelu\n");
    CHECK_THAT(e.message(), Contains("block 'b' has two parameters called 'x'"));
    CHECK(e.location().line == 1);
    CHECK(e.location().column == 12);
}
