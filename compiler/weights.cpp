#include "weights.h"

#include "edit_distance.h"

#include <algorithm>
#include <cmath>
#include <set>

// initialize_weights promises the same bytes on every platform, so its
// arithmetic must not be fused into FMAs where one compiler fuses and another
// does not. GCC fuses only under -std=gnu++ (this project builds with
// CMAKE_CXX_EXTENSIONS OFF); Clang fuses within one expression unless told:
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

namespace strata {

WeightStore::WeightStore(SafetensorsFile file)
    : source_(file.path()), file_(std::make_unique<const SafetensorsFile>(std::move(file))) {
    for (const std::string &name : file_->names()) {
        views_.emplace(name, *file_->find(name));
    }
}

void WeightStore::add(const std::string &name, Tensor tensor) {
    check_internal(views_.count(name) == 0, "WeightStore::add: the name is already in the store");
    check_internal(tensor.data.size() == static_cast<size_t>(tensor.shape.elements()),
                   "WeightStore::add: a tensor's data does not match its shape");
    owned_.push_back(std::make_unique<Tensor>(std::move(tensor)));
    views_.emplace(name, TensorView{owned_.back()->shape, owned_.back()->data.data()});
}

void WeightStore::replace(const std::string &name, Tensor tensor) {
    check_internal(views_.count(name) == 1, "WeightStore::replace: the name is not in the store");
    check_internal(tensor.data.size() == static_cast<size_t>(tensor.shape.elements()),
                   "WeightStore::replace: a tensor's data does not match its shape");
    views_.erase(name);
    add(name, std::move(tensor));
}

void WeightStore::erase(const std::string &name) {
    check_internal(views_.erase(name) == 1, "WeightStore::erase: the name is not in the store");
}

const TensorView *WeightStore::find(const std::string &name) const {
    auto it = views_.find(name);
    return it == views_.end() ? nullptr : &it->second;
}

std::vector<std::string> WeightStore::names() const {
    std::vector<std::string> names;
    for (const auto &[name, view] : views_) {
        names.push_back(name);
    }
    return names;
}

std::string parameter_name(const Node &node, const ParameterSpec &spec) {
    return node.name + "." + spec.suffix;
}

WeightStore load_weights(const std::string &safetensors_path) {
    return WeightStore(SafetensorsFile::open(safetensors_path));
}

// ---------------------------------------------------------------------------
// verify_weights

namespace {

enum class ProblemKind { Missing, Misshaped, Extra };

// One disagreement between the file and the graph; only the first is
// rendered in full, the rest are counted.
struct Problem {
    ProblemKind kind;
    std::string tensor;
    const Node *node = nullptr;          // the layer that needs it (or would own it)
    const ParameterSpec *spec = nullptr; // Missing and Misshaped
};

std::string describe_layer(const Node &node) {
    std::string text = "layer '" + node.name + "' (" + op_name(node.op);
    if (node.location.known()) {
        text += ", line " + std::to_string(node.location.line);
    }
    return text + ")";
}

// The candidate that `name` was most likely meant to be: one differing only
// in a leading module path (`module.conv1.weight`, as DataParallel saves) or
// by a few characters. Empty when none is close.
std::string closest_name(const std::string &name, const std::vector<std::string> &candidates) {
    auto nested = [](const std::string &outer, const std::string &inner) {
        return outer.size() > inner.size() &&
               outer.compare(outer.size() - inner.size() - 1, std::string::npos, "." + inner) == 0;
    };
    std::string best;
    size_t best_distance = std::max<size_t>(2, name.size() / 4) + 1;
    for (const std::string &candidate : candidates) {
        if (nested(name, candidate) || nested(candidate, name)) {
            return candidate;
        }
        size_t distance = edit_distance(name, candidate);
        if (distance < best_distance) {
            best = candidate;
            best_distance = distance;
        }
    }
    return best;
}

std::string shape_help(const Node &node, const ParameterSpec &spec) {
    if (node.op == OpKind::Conv && spec.suffix == "weight") {
        return "a conv weight is out_channels x (in_channels / groups) x kernel height x "
               "kernel width; check the layer's channels, groups and kernel size";
    }
    if (node.op == OpKind::Linear && spec.suffix == "weight") {
        return "a linear weight is out_features x in_features; check the layer's size and "
               "the shape of its input";
    }
    return "check the layer's channel count";
}

std::string missing_help(const Problem &problem, const WeightStore &weights,
                         const std::vector<std::string> &extras) {
    std::string similar = closest_name(problem.tensor, extras);
    if (!similar.empty()) {
        return "the file has an unused tensor '" + similar +
               "'; name the layer as the model names it";
    }
    if (problem.spec->role == ParameterRole::Bias &&
        (problem.node->op == OpKind::Conv || problem.node->op == OpKind::Linear)) {
        return "if the model's layer has no bias, declare the layer with bias=false";
    }
    std::string prefix = problem.node->name + ".";
    for (const std::string &name : weights.names()) {
        if (name.compare(0, prefix.size(), prefix) == 0) {
            return "the file holds other tensors of this layer but not this one; check the "
                   "layer's kind and options against the model";
        }
    }
    return "the file has no tensors for this layer: check that the weights are for this "
           "network, and that the layer is named as the model's state_dict names it";
}

std::string extra_message(const Problem &problem, const std::string &source,
                          const std::vector<ParameterSpec> &owner_specs) {
    std::string message = source + ": tensor '" + problem.tensor + "' belongs to no layer";
    if (problem.node == nullptr) {
        return message;
    }
    message += ": " + describe_layer(*problem.node);
    if (owner_specs.empty()) {
        return message + " takes no tensors";
    }
    message += " takes only";
    for (size_t i = 0; i < owner_specs.size(); ++i) {
        message += (i == 0                        ? " "
                    : i + 1 == owner_specs.size() ? " and "
                                                  : ", ") +
                   owner_specs[i].suffix;
    }
    return message;
}

std::string count_text(size_t n, const char *what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

// "2 more problems with the weights: 1 missing tensor, 1 extra tensor"
std::string remaining_note(const std::vector<Problem> &problems) {
    size_t counts[3] = {0, 0, 0};
    for (size_t i = 1; i < problems.size(); ++i) {
        ++counts[static_cast<int>(problems[i].kind)];
    }
    std::string text = count_text(problems.size() - 1, "more problem") + " with the weights:";
    const char *names[3] = {"missing tensor", "mis-shaped tensor", "extra tensor"};
    bool first = true;
    for (int k = 0; k < 3; ++k) {
        if (counts[k] != 0) {
            text += (first ? " " : ", ") + count_text(counts[k], names[k]);
            first = false;
        }
    }
    return text;
}

UserError render_problem(const Graph &graph, const WeightStore &weights,
                         const std::vector<Problem> &problems,
                         const std::vector<std::string> &extras) {
    const Problem &problem = problems.front();
    std::string source = weights.source().empty() ? "weights" : weights.source();
    std::string message;
    std::string help;
    switch (problem.kind) {
    case ProblemKind::Missing:
        message = source + ": tensor '" + problem.tensor + "' (" + problem.spec->shape.str() +
                  ") for " + describe_layer(*problem.node) + " is missing";
        help = missing_help(problem, weights, extras);
        break;
    case ProblemKind::Misshaped:
        message = source + ": tensor '" + problem.tensor + "' has shape " +
                  weights.find(problem.tensor)->shape.str() + " but " +
                  describe_layer(*problem.node) + " needs " + problem.spec->shape.str();
        help = shape_help(*problem.node, *problem.spec);
        break;
    case ProblemKind::Extra: {
        std::vector<ParameterSpec> owner_specs;
        if (problem.node != nullptr) {
            owner_specs = parameters_of(graph, *problem.node);
        }
        message = extra_message(problem, source, owner_specs);
        // No hint at a similar missing name: a missing tensor is reported
        // before any extra one, and its help already names the extra.
        bool kernel = problem.node != nullptr &&
                      (problem.node->op == OpKind::Conv || problem.node->op == OpKind::Linear);
        if (kernel && problem.tensor == problem.node->name + ".bias") {
            help = "if the model's layer has a bias, declare the layer with bias=true";
        } else {
            help = "remove it from the file, or add the layer it belongs to";
        }
        break;
    }
    }
    UserError error(message, help);
    if (problem.node != nullptr && problem.node->location.known()) {
        error.add_note(problem.node->location, "layer '" + problem.node->name + "' is here");
        // Innermost call first, as the front end reports errors inside blocks.
        for (auto it = problem.node->call_sites.rbegin(); it != problem.node->call_sites.rend();
             ++it) {
            error.add_note(*it, "in the block called here");
        }
    }
    if (problems.size() > 1) {
        error.add_note(SourceLocation{}, remaining_note(problems));
    }
    return error;
}

// "layer1.0.bn1.num_batches_tracked": a training counter inference ignores.
bool is_batch_norm_counter(const Graph &graph, const std::string &tensor) {
    const std::string suffix = ".num_batches_tracked";
    if (tensor.size() <= suffix.size() ||
        tensor.compare(tensor.size() - suffix.size(), suffix.size(), suffix) != 0) {
        return false;
    }
    NodeId id = graph.find(tensor.substr(0, tensor.size() - suffix.size()));
    return id >= 0 && graph.node(id).op == OpKind::BatchNorm;
}

// The node that `tensor` would belong to by name ("fc2" for "fc2.weight"), or nullptr.
const Node *owner_by_name(const Graph &graph, const std::string &tensor) {
    size_t dot = tensor.rfind('.');
    if (dot == std::string::npos) {
        return nullptr;
    }
    NodeId id = graph.find(tensor.substr(0, dot));
    return id >= 0 ? &graph.node(id) : nullptr;
}

} // namespace

void verify_weights(const Graph &graph, const WeightStore &weights) {
    // parameters_of returns by value: keep every spec alive while problems point at them.
    std::vector<std::vector<ParameterSpec>> specs;
    specs.reserve(graph.nodes.size());
    for (const Node &node : graph.nodes) {
        specs.push_back(parameters_of(graph, node));
    }

    std::vector<Problem> problems;
    std::set<std::string> expected;
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
        const Node &node = graph.nodes[i];
        for (const ParameterSpec &spec : specs[i]) {
            std::string name = parameter_name(node, spec);
            expected.insert(name);
            const TensorView *view = weights.find(name);
            if (view == nullptr) {
                problems.push_back({ProblemKind::Missing, name, &node, &spec});
            } else if (view->shape != spec.shape) {
                problems.push_back({ProblemKind::Misshaped, name, &node, &spec});
            }
        }
    }
    std::vector<std::string> extras;
    for (const std::string &name : weights.names()) {
        if (expected.count(name) == 0 && !is_batch_norm_counter(graph, name)) {
            problems.push_back({ProblemKind::Extra, name, owner_by_name(graph, name), nullptr});
            extras.push_back(name);
        }
    }
    if (!problems.empty()) {
        throw render_problem(graph, weights, problems, extras);
    }
}

// ---------------------------------------------------------------------------
// initialize_weights

namespace {

// SplitMix64 (Steele, Lea and Flood, 2014): its output is fixed by integer
// arithmetic alone, unlike the standard library's distributions.
class SplitMix64 {
  public:
    explicit SplitMix64(uint64_t state) : state_(state) {}

    uint64_t next() {
        state_ += 0x9E3779B97F4A7C15ull;
        return mix(state_);
    }

    static uint64_t mix(uint64_t z) {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }

    /// Uniform in [-1, 1): 53 random bits, scaled exactly.
    double next_signed_unit() {
        double scaled = static_cast<double>(next() >> 11) * 0x1.0p-52;
        return scaled - 1.0;
    }

  private:
    uint64_t state_;
};

// FNV-1a over the name's bytes: a hash defined by its specification.
uint64_t hash_name(const std::string &name) {
    uint64_t hash = 0xcbf29ce484222325ull;
    for (char c : name) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 0x100000001b3ull;
    }
    return hash;
}

// ln(x) for x in (0, 1) from +, -, *, / alone. libm's log may differ in the
// last bit between platforms, and such a bit can flip the float a weight is
// rounded to; basic IEEE operations are exact to the bit everywhere.
double portable_log(double x) {
    int exponent = 0;
    double m = std::frexp(x, &exponent); // exact: x = m * 2^exponent, m in [0.5, 1)
    if (m < 0.70710678118654752) {
        m *= 2.0;
        exponent -= 1;
    }
    // ln(m) = 2 atanh(t) = 2 (t + t^3/3 + t^5/5 + ...) with |t| < 0.172, so
    // thirteen terms reach double precision.
    double t = (m - 1.0) / (m + 1.0);
    double t2 = t * t;
    double power = t;
    double sum = 0.0;
    for (int k = 1; k <= 25; k += 2) {
        double term = power / k;
        sum += term;
        power *= t2;
    }
    double mantissa_log = 2.0 * sum;
    double exponent_log = exponent * 0.69314718055994531;
    return mantissa_log + exponent_log;
}

// Standard normal samples by Marsaglia's polar method, which needs a log and
// a square root (correctly rounded everywhere) but no sine or cosine.
class NormalSampler {
  public:
    explicit NormalSampler(uint64_t seed) : uniform_(seed) {}

    double next() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        for (;;) {
            double u = uniform_.next_signed_unit();
            double v = uniform_.next_signed_unit();
            double uu = u * u;
            double vv = v * v;
            double s = uu + vv;
            if (s >= 1.0 || s == 0.0) {
                continue;
            }
            double log_s = portable_log(s);
            double scale = std::sqrt(-2.0 * log_s / s);
            spare_ = v * scale;
            has_spare_ = true;
            return u * scale;
        }
    }

  private:
    SplitMix64 uniform_;
    double spare_ = 0.0;
    bool has_spare_ = false;
};

// He (MSRA) initialisation, fan-in mode: keeps the variance of activations
// constant through ReLU layers, so random networks produce usable numbers.
void fill_he_normal(Tensor &tensor, uint64_t seed, const std::string &name) {
    int64_t fan_out = tensor.shape.dims.at(0);
    check_internal(fan_out > 0 && tensor.shape.elements() > 0 &&
                       tensor.shape.elements() % fan_out == 0,
                   "initialize_weights: a weight has no elements to take its fan-in from");
    double fan_in = static_cast<double>(tensor.shape.elements() / fan_out);
    double deviation = std::sqrt(2.0 / fan_in);
    NormalSampler normal(SplitMix64::mix(seed ^ hash_name(name)));
    for (float &value : tensor.data) {
        value = static_cast<float>(deviation * normal.next());
    }
}

void fill_parameter(Tensor &tensor, const Node &node, const ParameterSpec &spec, uint64_t seed,
                    const std::string &name) {
    bool kernel = node.op == OpKind::Conv || node.op == OpKind::Linear;
    if (kernel && spec.role == ParameterRole::Weight) {
        fill_he_normal(tensor, seed, name);
    } else if (spec.role == ParameterRole::Bias || spec.suffix == "running_mean") {
        std::fill(tensor.data.begin(), tensor.data.end(), 0.0f);
    } else if (node.op == OpKind::BatchNorm &&
               (spec.suffix == "weight" || spec.suffix == "running_var")) {
        std::fill(tensor.data.begin(), tensor.data.end(), 1.0f);
    } else {
        throw InternalError("initialize_weights: no rule for " + std::string(op_name(node.op)) +
                            "'s tensor '" + spec.suffix + "'");
    }
}

} // namespace

WeightStore initialize_weights(const Graph &graph, uint64_t seed) {
    WeightStore weights("initialised weights");
    for (const Node &node : graph.nodes) {
        for (const ParameterSpec &spec : parameters_of(graph, node)) {
            std::string name = parameter_name(node, spec);
            Tensor tensor(spec.shape);
            fill_parameter(tensor, node, spec, seed, name);
            weights.add(name, std::move(tensor));
        }
    }
    return weights;
}

} // namespace strata
