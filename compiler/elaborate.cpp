#include "elaborate.h"

#include "evaluate.h"
#include "layer_specs.h"

#include <map>
#include <set>

namespace strata {

namespace {

// Limits that turn runaway input (a block calling itself, `* 1000000000`)
// into an error instead of a hang or an exhausted memory.
constexpr size_t kMaxCallDepth = 64;
constexpr int64_t kMaxRepeat = 10000;
constexpr size_t kMaxNodes = 200000;
// Statements, groups and block calls elaborated in all: bounds the work of
// repetitions that make no layers (`{ { } * 10000 } * 10000`).
constexpr size_t kMaxSteps = 1000000;
// Statements nested inside each other across block calls; each level costs a
// few stack frames, and the parser's limit holds only within one block.
constexpr size_t kMaxNesting = 500;
// Bytes of all full names made: long labels nested deep, then repeated, would
// otherwise exhaust memory before any other limit is reached.
constexpr size_t kMaxNameBytes = size_t{64} << 20;

// What flows from one statement to the next: one tensor, or the several
// outputs of a split, which only `<- name[i]` can read.
struct Flow {
    std::vector<NodeId> ids;
    bool multiple = false;
};

// Where names are made: `prefix` is the full name of the enclosing block
// instance or group plus a dot, and unnamed items are numbered from
// `next_index`, like the children of a PyTorch nn.Sequential.
struct Scope {
    std::string prefix;
    int next_index = 0;
};

class Elaborator {
  public:
    explicit Elaborator(const Program &program) : program_(program) {
        for (const BlockDefinition &block : program.blocks) {
            if (find_layer_spec(block.name)) {
                throw UserError(block.location,
                                "block '" + block.name + "' has the name of a built-in layer",
                                "rename the block");
            }
            if (!blocks_.emplace(block.name, &block).second) {
                throw UserError(block.location, "block '" + block.name + "' is defined twice");
            }
            std::set<std::string> parameters;
            for (const BlockParameter &p : block.parameters) {
                if (!parameters.insert(p.name).second) {
                    throw UserError(p.location, "block '" + block.name +
                                                    "' has two parameters "
                                                    "called '" +
                                                    p.name + "'");
                }
            }
        }
    }

    Graph run() {
        graph_.name = program_.network_name.empty() ? "network" : program_.network_name;
        Node input;
        input.op = OpKind::Input;
        input.name = "input";
        input.location = program_.input_location;
        input.shape.dims.push_back(1);
        for (int64_t d : program_.input_dims) {
            input.shape.dims.push_back(d);
        }
        used_names_.insert("input");
        Flow flow{{graph_.add(std::move(input))}, false};

        Scope top;
        scopes_.push_back(&top);
        flow = body(program_.body, flow, top, globals_);
        scopes_.pop_back();
        // Only the input: no statements, or only `let`s and untaken `if`s.
        if (graph_.nodes.size() == 1) {
            throw UserError(program_.input_location, "the network has no layers");
        }
        graph_.output = single(flow, program_.body.back().location, "the network");
        return std::move(graph_);
    }

  private:
    Flow body(const Body &statements, Flow flow, Scope &scope, Environment &env) {
        for (const Statement &st : statements) {
            flow = statement(st, flow, scope, env);
        }
        return flow;
    }

    Flow statement(const Statement &st, const Flow &flow, Scope &scope, Environment &env) {
        step(st.location);
        if (nesting_ >= kMaxNesting) {
            throw UserError(st.location,
                            "statements are nested more than " + std::to_string(kMaxNesting) +
                                " deep, counting those of the blocks called",
                            "a block that calls itself needs a condition that stops it");
        }
        // Not restored on a throw: the elaboration is abandoned then.
        ++nesting_;
        Flow out = dispatch(st, flow, scope, env);
        --nesting_;
        return out;
    }

    Flow dispatch(const Statement &st, const Flow &flow, Scope &scope, Environment &env) {
        switch (st.kind) {
        case StatementKind::Let:
            env.define(st.variable, evaluate(*st.value, env), st.label_location);
            return flow;
        case StatementKind::If:
            return body(condition(*st.condition, env) ? st.body : st.else_body, flow, scope, env);
        case StatementKind::Group: return group(st, flow, scope, env);
        case StatementKind::Residual: return residual(st, flow, scope, env);
        case StatementKind::Branches: return branches(st, flow, scope, env);
        case StatementKind::Invoke:
            if (blocks_.count(st.callee)) {
                return group(st, flow, scope, env);
            }
            return layer(st, flow, scope, env);
        }
        throw InternalError("elaborate: unknown statement kind");
    }

    // --- naming ---

    // The local name of the next item in `scope`: its label, or its index.
    std::string take_name(const Statement &st, Scope &scope) {
        int index = scope.next_index++;
        return st.label.empty() ? std::to_string(index) : st.label;
    }

    std::string claim(const std::string &full_name, const Statement &st) {
        if (!used_names_.insert(full_name).second) {
            SourceLocation where = st.label.empty() ? st.location : st.label_location;
            throw UserError(where, "the name '" + full_name + "' is already used",
                            "give this layer a different label");
        }
        return full_name;
    }

    // Structural nodes (a residual's add, a join) take no index, so that the
    // numbering of the layers around them matches PyTorch's modules.
    // The next suffix to try is kept per base: a scope may hold thousands of
    // joins, and rescanning from `_1` each time would take quadratic time.
    std::string unique(const std::string &base) {
        std::string name = base;
        int &suffix = next_suffix_[base];
        while (used_names_.count(name)) {
            name = base + "_" + std::to_string(++suffix);
        }
        used_names_.insert(name);
        return name;
    }

    void publish(const std::string &full_name, const Flow &flow) { outputs_[full_name] = flow; }

    // --- statements ---

    // Block calls and `{ }` groups: each is a nested sequence named like
    // an nn.Sequential child. `label: item * N` makes `label.0` .. `label.N-1`.
    Flow group(const Statement &st, Flow flow, Scope &scope, Environment &env) {
        int64_t repeat = 1;
        if (st.repeat) {
            repeat = count(*st.repeat, env, "a repetition count");
        }
        flow = inputs_of(st, flow, env);
        if (st.kind == StatementKind::Invoke && blocks_.at(st.callee)->is_inline) {
            if (!st.label.empty()) {
                throw UserError(st.label_location,
                                "the layers of inline block '" + st.callee +
                                    "' take their names in the caller, so it cannot be labelled",
                                "remove the label, or make '" + st.callee + "' a plain block");
            }
            for (int64_t i = 0; i < repeat; ++i) {
                step(st.location);
                flow = call(st, flow, scope, env);
            }
            return flow;
        }
        if (st.repeat && !st.label.empty()) {
            Scope outer{scope.prefix + claim_label(st, scope) + ".", 0};
            for (int64_t i = 0; i < repeat; ++i) {
                flow = instance(st, flow, outer, env, std::to_string(outer.next_index++));
            }
            publish(outer.prefix.substr(0, outer.prefix.size() - 1), flow);
            return flow;
        }
        for (int64_t i = 0; i < repeat; ++i) {
            flow = instance(st, flow, scope, env,
                            st.label.empty() ? take_name(st, scope) : claim_label(st, scope));
        }
        return flow;
    }

    std::string claim_label(const Statement &st, Scope &scope) {
        std::string name = take_name(st, scope);
        claim(scope.prefix + name, st);
        return name;
    }

    Flow instance(const Statement &st, const Flow &flow, Scope &scope, Environment &env,
                  const std::string &name) {
        step(st.location);
        Scope inner{scope.prefix + name + ".", 0};
        count_name(inner.prefix, st.location);
        Flow out;
        if (st.kind == StatementKind::Group) {
            // A group's `let`s are its own, so that a repeated group can define them.
            Environment local(&env);
            scopes_.push_back(&inner);
            out = body(st.body, flow, inner, local);
            scopes_.pop_back();
        } else {
            out = call(st, flow, inner, env);
        }
        publish(scope.prefix + name, out);
        return out;
    }

    // Runs a block's body in naming scope `inner`: a fresh one for a plain
    // block, the caller's own for an inline block.
    Flow call(const Statement &st, const Flow &flow, Scope &inner, Environment &caller) {
        const BlockDefinition &block = *blocks_.at(st.callee);
        if (call_stack_.size() >= kMaxCallDepth) {
            throw UserError(st.callee_location,
                            "block calls are nested more than " + std::to_string(kMaxCallDepth) +
                                " deep",
                            "a block that calls itself needs a condition that stops it");
        }
        // Blocks see their own parameters and the file's top-level `let`s,
        // never their caller's variables.
        Environment env(&globals_);
        bind_parameters(block, st, caller, env);
        call_stack_.push_back(st.callee_location);
        bool new_scope = scopes_.back() != &inner;
        if (new_scope) {
            scopes_.push_back(&inner);
        }
        Flow out;
        try {
            out = body(block.body, flow, inner, env);
        } catch (UserError &error) {
            error.add_note(st.callee_location,
                           "in the instance of block '" + block.name + "' called here");
            throw;
        }
        if (new_scope) {
            scopes_.pop_back();
        }
        call_stack_.pop_back();
        return out;
    }

    void bind_parameters(const BlockDefinition &block, const Statement &st, Environment &caller,
                         Environment &env) {
        std::map<std::string, const Argument *> given;
        size_t positional = 0;
        for (const Argument &arg : st.arguments) {
            std::string name;
            if (arg.name.empty()) {
                if (positional >= block.parameters.size()) {
                    size_t n = block.parameters.size();
                    throw UserError(arg.value->location,
                                    "block '" + block.name + "' takes " + std::to_string(n) +
                                        (n == 1 ? " argument" : " arguments") + ", got more",
                                    "its parameters are: " + parameter_list(block));
                }
                name = block.parameters[positional++].name;
            } else {
                name = arg.name;
                bool known = false;
                for (const BlockParameter &p : block.parameters) {
                    known = known || p.name == name;
                }
                if (!known) {
                    throw UserError(arg.name_location,
                                    "block '" + block.name + "' has no parameter '" + name + "'",
                                    "its parameters are: " + parameter_list(block));
                }
            }
            if (!given.emplace(name, &arg).second) {
                throw UserError(arg.value->location, "parameter '" + name + "' of block '" +
                                                         block.name + "' is given twice");
            }
        }
        // Defaults are evaluated in the callee, so they may use earlier parameters.
        for (const BlockParameter &p : block.parameters) {
            auto it = given.find(p.name);
            if (it != given.end()) {
                env.define(p.name, evaluate(*it->second->value, caller), p.location);
            } else if (p.default_value) {
                env.define(p.name, evaluate(*p.default_value, env), p.location);
            } else {
                UserError error(st.callee_location,
                                "block '" + block.name + "' needs a value for '" + p.name + "'",
                                "its parameters are: " + parameter_list(block));
                error.add_note(block.location, "'" + block.name + "' is defined here");
                throw error;
            }
        }
    }

    static std::string parameter_list(const BlockDefinition &block) {
        std::string list;
        for (const BlockParameter &p : block.parameters) {
            list += (list.empty() ? "" : ", ") + p.name;
        }
        return list.empty() ? "none" : list;
    }

    Flow layer(const Statement &st, const Flow &flow, Scope &scope, Environment &env) {
        const LayerSpec *spec = find_layer_spec(st.callee);
        if (!spec) {
            throw UserError(st.callee_location, "unknown layer or block '" + st.callee + "'",
                            "built-in layers: " + join(builtin_layer_names()) +
                                (blocks_.empty() ? "" : "; blocks: " + block_names()));
        }
        if (st.repeat) {
            throw UserError(st.repeat->location, "a single layer cannot be repeated",
                            "wrap it in a block or a '{ }' group: '{ " + st.callee + " } * N'");
        }
        Node node = build_layer(*spec, st, env);
        Flow in = inputs_of(st, flow, env);
        check_input_count(*spec, st, in);
        std::string name = claim(scope.prefix + take_name(st, scope), st);
        if (spec->op == OpKind::Slice) {
            return split(node, in.ids[0], name, st);
        }
        node.name = name;
        node.inputs = in.ids;
        Flow out{{add(std::move(node))}, false};
        publish(name, out);
        return out;
    }

    Flow split(const Node &prototype, NodeId input, const std::string &name, const Statement &st) {
        Flow out{{}, true};
        int64_t parts = prototype.attr<SliceAttrs>().parts;
        for (int64_t i = 0; i < parts; ++i) {
            Node part = prototype;
            part.name = claim(name + "." + std::to_string(i), st);
            part.inputs = {input};
            part.attr<SliceAttrs>().index = i;
            out.ids.push_back(add(std::move(part)));
        }
        publish(name, out);
        return out;
    }

    void check_input_count(const LayerSpec &spec, const Statement &st, const Flow &in) {
        int n = static_cast<int>(in.ids.size());
        if (n < spec.min_inputs) {
            throw UserError(st.callee_location,
                            std::string(spec.name) + " needs " + std::to_string(spec.min_inputs) +
                                " or more inputs, got " + std::to_string(n),
                            std::string("name its inputs: '") + spec.example + "', or join " +
                                "branches with '" + spec.name + " { ... }'");
        }
        if (spec.max_inputs >= 0 && n > spec.max_inputs) {
            throw UserError(st.references.at(spec.max_inputs).location,
                            std::string(spec.name) + " reads one input, got " + std::to_string(n));
        }
    }

    // residual { body } shortcut { ... }: body(x) + shortcut(x), where the
    // shortcut is x itself when absent or when its condition is false.
    Flow residual(const Statement &st, const Flow &flow, Scope &scope, Environment &env) {
        NodeId x = single_input(flow, st, "a residual");
        if (st.condition && !condition(*st.condition, env)) {
            return body(st.body, flow, scope, env);
        }
        NodeId main = single(body(st.body, flow, scope, env), st.location, "a residual's body");
        NodeId shortcut = x;
        if (st.has_shortcut && (!st.shortcut_condition || condition(*st.shortcut_condition, env))) {
            shortcut = single(body(st.shortcut_body, flow, scope, env), st.location,
                              "a residual's shortcut");
        }
        return join(st, OpKind::Add, {main, shortcut}, scope, "add");
    }

    // concat { a; b } and add { a; b }: every branch reads the same input,
    // or with `split` branch i reads the i-th equal part of its channels.
    Flow branches(const Statement &st, const Flow &flow, Scope &scope, Environment &env) {
        NodeId x = single_input(flow, st, "'" + st.join + " { }'");
        std::vector<NodeId> inputs(st.body.size(), x);
        if (st.split) {
            std::string base = unique(scope.prefix + "split");
            for (size_t i = 0; i < st.body.size(); ++i) {
                Node part;
                part.op = OpKind::Slice;
                part.attrs =
                    SliceAttrs{static_cast<int64_t>(i), static_cast<int64_t>(st.body.size())};
                part.name = unique(base + "." + std::to_string(i));
                part.location = st.location;
                part.inputs = {x};
                inputs[i] = add(std::move(part));
            }
        }
        std::vector<NodeId> outputs;
        for (size_t i = 0; i < st.body.size(); ++i) {
            const Statement &branch = st.body[i];
            if (branch.kind == StatementKind::Let || branch.kind == StatementKind::If) {
                throw UserError(branch.location,
                                "each line inside '" + st.join + " { }' is one branch",
                                "put 'let' and 'if' outside, or wrap the branch in '{ }'");
            }
            Flow out = statement(branch, Flow{{inputs[i]}, false}, scope, env);
            outputs.push_back(single(out, branch.location, "a branch"));
        }
        return join(st, st.join == "add" ? OpKind::Add : OpKind::Concat, outputs, scope, st.join);
    }

    Flow join(const Statement &st, OpKind op, std::vector<NodeId> inputs, Scope &scope,
              const std::string &base) {
        Node node;
        node.op = op;
        node.location = st.location;
        node.inputs = std::move(inputs);
        node.name = st.label.empty() ? unique(scope.prefix + base)
                                     : claim(scope.prefix + take_name(st, scope), st);
        std::string name = node.name;
        Flow out{{add(std::move(node))}, false};
        publish(name, out);
        return out;
    }

    // --- inputs and references ---

    Flow inputs_of(const Statement &st, const Flow &flow, const Environment &env) {
        if (st.references.empty()) {
            if (flow.multiple) {
                throw UserError(st.location,
                                "the layer above is a split with " +
                                    std::to_string(flow.ids.size()) +
                                    " outputs; say which one this reads",
                                "label the split and read a part: 'conv 64 1x1 <- s[0]'");
            }
            return flow;
        }
        Flow in;
        for (const Reference &ref : st.references) {
            in.ids.push_back(resolve(ref, env));
        }
        return in;
    }

    // A reference is looked up from the innermost naming scope outwards, so a
    // block's layers refer to each other by their short labels.
    NodeId resolve(const Reference &ref, const Environment &env) {
        const Flow *found = nullptr;
        for (auto it = scopes_.rbegin(); it != scopes_.rend() && !found; ++it) {
            auto hit = outputs_.find((*it)->prefix + ref.path);
            if (hit != outputs_.end()) {
                found = &hit->second;
            }
        }
        Flow input{{0}, false};
        if (!found && ref.path == "input") {
            found = &input;
        }
        if (!found) {
            throw UserError(ref.location, "no earlier layer is called '" + ref.path + "'",
                            "a reference names a labelled layer above it, or 'input'");
        }
        if (!ref.index) {
            if (found->multiple) {
                throw UserError(ref.location,
                                "'" + ref.path + "' is a split with " +
                                    std::to_string(found->ids.size()) + " outputs",
                                "pick one: '" + ref.path + "[0]'");
            }
            return found->ids[0];
        }
        Value index = evaluate(*ref.index, env);
        const auto *i = std::get_if<int64_t>(&index);
        if (!found->multiple) {
            throw UserError(ref.index->location,
                            "'" + ref.path + "' has one output and cannot be indexed",
                            "write '<- " + ref.path + "'");
        }
        if (!i || *i < 0 || *i >= static_cast<int64_t>(found->ids.size())) {
            throw UserError(ref.index->location,
                            "output index '" + value_text(index) + "' of '" + ref.path +
                                "' is out of range",
                            "it has outputs 0 to " + std::to_string(found->ids.size() - 1));
        }
        return found->ids[*i];
    }

    // The one tensor read by a statement that cannot say `<- s[i]`.
    NodeId single_input(const Flow &flow, const Statement &st, const std::string &what) {
        if (flow.multiple) {
            throw UserError(st.location,
                            "the layer above is a split with " + std::to_string(flow.ids.size()) +
                                " outputs, which " + what + " cannot read",
                            "pick one part first ('identity <- s[0]') or join the parts "
                            "('concat <- s[0], s[1]')");
        }
        return flow.ids.at(0);
    }

    NodeId single(const Flow &flow, const SourceLocation &where, const std::string &what) {
        if (flow.multiple) {
            throw UserError(where,
                            what + " cannot end with a split of " +
                                std::to_string(flow.ids.size()) + " outputs",
                            "join the parts with 'concat <- s[0], s[1]'");
        }
        return flow.ids.at(0);
    }

    // --- values ---

    bool condition(const Expr &expr, const Environment &env) {
        Value v = evaluate(expr, env);
        if (!std::holds_alternative<bool>(v)) {
            throw UserError(expr.location,
                            "a condition must be true or false, got " + value_kind_name(v) + " '" +
                                value_text(v) + "'",
                            "compare it: '" + expr.text + " != 0'");
        }
        return std::get<bool>(v);
    }

    int64_t count(const Expr &expr, const Environment &env, const std::string &what) {
        Value v = evaluate(expr, env);
        const auto *i = std::get_if<int64_t>(&v);
        if (!i || *i < 1 || *i > kMaxRepeat) {
            throw UserError(expr.location, "expected " + what + " from 1 to " +
                                               std::to_string(kMaxRepeat) + ", got '" +
                                               value_text(v) + "'");
        }
        return *i;
    }

    void step(const SourceLocation &where) {
        if (++steps_ > kMaxSteps) {
            throw UserError(where,
                            "the network expands to more than " + std::to_string(kMaxSteps) +
                                " statements, groups and block calls",
                            "look for a repetition ('* N') or a recursive block that runs away");
        }
    }

    void count_name(const std::string &name, const SourceLocation &where) {
        name_bytes_ += name.size();
        if (name_bytes_ > kMaxNameBytes) {
            throw UserError(where,
                            "the network's layer names take more than " +
                                std::to_string(kMaxNameBytes >> 20) + " MiB",
                            "shorten the labels, or look for a repetition ('* N') that runs away");
        }
    }

    NodeId add(Node node) {
        if (graph_.nodes.size() >= kMaxNodes) {
            throw UserError(node.location,
                            "the network has more than " + std::to_string(kMaxNodes) + " layers");
        }
        count_name(node.name, node.location);
        node.call_sites = call_stack_;
        return graph_.add(std::move(node));
    }

    static std::string join(const std::vector<std::string> &names) {
        std::string text;
        for (const std::string &n : names) {
            text += (text.empty() ? "" : ", ") + n;
        }
        return text;
    }

    std::string block_names() const {
        std::vector<std::string> names;
        for (const auto &entry : blocks_) {
            names.push_back(entry.first);
        }
        return join(names);
    }

    const Program &program_;
    Graph graph_;
    std::map<std::string, const BlockDefinition *> blocks_;
    std::map<std::string, Flow> outputs_;
    std::set<std::string> used_names_;
    std::vector<Scope *> scopes_;
    std::vector<SourceLocation> call_stack_;
    Environment globals_;
    std::map<std::string, int> next_suffix_;
    size_t steps_ = 0;
    size_t nesting_ = 0;
    size_t name_bytes_ = 0;
};

} // namespace

Graph elaborate(const Program &program) {
    return Elaborator(program).run();
}

std::vector<std::string> builtin_layer_names() {
    std::vector<std::string> names;
    for (const LayerSpec &spec : layer_specs()) {
        names.push_back(spec.name);
    }
    return names;
}

} // namespace strata
