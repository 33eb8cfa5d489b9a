#include "compile_network.h"

#include "codegen/emit_driver.h"
#include "codegen/emit_header.h"
#include "cost_report.h"
#include "frontend.h"
#include "lower/lower_node.h"
#include "parameters.h"
#include "passes/plan_memory.h"
#include "weights.h"

#include <Halide.h>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <map>

namespace strata {

namespace {

bool is_c_identifier(const std::string &name) {
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) {
        return false;
    }
    for (char c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') {
            return false;
        }
    }
    return true;
}

// Extents of a weight tensor, innermost first: OIHW becomes (W, H, I, O).
std::vector<int64_t> weight_extents(const Shape &shape) {
    return std::vector<int64_t>(shape.dims.rbegin(), shape.dims.rend());
}

// Builds the driver's program: the calls in node order, every tensor placed
// by the memory plan, and one kernel per distinct lowering key.
class ProgramBuilder {
  public:
    ProgramBuilder(const Graph &graph, const WeightStore &weights, const MemoryPlan &plan,
                   const Halide::Target &target, const std::string &name)
        : graph_(graph), weights_(weights), plan_(plan), target_(target) {
        program_.name = name;
        program_.input = graph.input().shape;
        program_.output = graph.output_node().shape;
        program_.arena_bytes = plan.arena_bytes;
        program_.gpu = target.has_gpu_feature();
    }

    void build() {
        for (const Node &node : graph_.nodes) {
            const Placement &place = plan_.placements.at(node.id);
            if (node.op == OpKind::Input || place.storage == Storage::Alias) {
                continue;
            }
            if (is_view(node)) {
                copy_view(node);
                continue;
            }
            call_kernel(node);
        }
        // A network that does nothing copies its input to its output.
        if (graph_.output == 0) {
            DriverCall copy;
            copy.layer = "input";
            copy.inputs.push_back(buffer_of(0));
            copy.output = DriverBuffer{BufferBase::Output, 0, -1, buffer_extents(program_.output)};
            program_.calls.push_back(copy);
        }
    }

    DriverProgram &program() { return program_; }
    std::vector<Halide::Module> &modules() { return modules_; }
    int layers() const { return layers_; }

  private:
    static bool is_view(const Node &node) {
        return node.op == OpKind::Flatten || node.op == OpKind::Slice;
    }

    // A Flatten or Slice that the plan could not alias (the network's
    // output): copy the bytes its view would have shown.
    void copy_view(const Node &node) {
        DriverCall copy;
        copy.layer = node.name;
        DriverBuffer source = buffer_of(node.inputs.at(0));
        if (node.op == OpKind::Slice) {
            source.byte_offset += node.attr<SliceAttrs>().index * plan_.placements[node.id].bytes;
        }
        copy.inputs.push_back(source);
        copy.output = buffer_of(node.id);
        program_.calls.push_back(copy);
    }

    void call_kernel(const Node &node) {
        LoweredKernel lowered = lower_node(graph_, node, target_);
        auto found = kernel_names_.find(lowered.key);
        std::string kernel;
        if (found != kernel_names_.end()) {
            kernel = found->second;
        } else {
            kernel = program_.name + "_k" + std::to_string(kernel_names_.size());
            kernel_names_[lowered.key] = kernel;
            modules_.push_back(
                lowered.pipeline.compile_to_module(lowered.arguments, kernel, target_));
        }
        DriverCall call;
        call.kernel = kernel;
        call.layer = node.name;
        for (NodeId input : node.inputs) {
            call.inputs.push_back(buffer_of(input));
        }
        for (const ParameterSpec &spec : parameters_of(graph_, node)) {
            call.inputs.push_back(weight(node.name + "." + spec.suffix));
        }
        check_internal(call.inputs.size() == lowered.arguments.size(),
                       "a kernel's arguments are its inputs, then its weights");
        call.output = buffer_of(node.id);
        call.macs = macs_of(graph_, node);
        program_.calls.push_back(call);
        ++layers_;
    }

    DriverBuffer buffer_of(NodeId id) {
        const Placement &place = plan_.placements.at(id);
        DriverBuffer b;
        b.extents = buffer_extents(graph_.node(id).shape);
        b.byte_offset = place.offset;
        Storage storage = place.storage;
        if (storage == Storage::Alias) {
            storage = plan_.placements.at(place.base).storage;
            b.byte_offset += plan_.placements.at(place.base).offset;
        }
        switch (storage) {
        case Storage::NetworkInput: b.base = BufferBase::Input; break;
        case Storage::NetworkOutput: b.base = BufferBase::Output; break;
        case Storage::Arena: b.base = BufferBase::Arena; break;
        case Storage::Alias: throw InternalError("an alias's base is not an alias");
        }
        if (b.base != BufferBase::Arena && place.storage != Storage::Alias) {
            b.byte_offset = 0;
        }
        return b;
    }

    DriverBuffer weight(const std::string &name) {
        const TensorView *view = weights_.find(name);
        check_internal(view != nullptr, "verify_weights found every tensor");
        auto found = weight_index_.find(name);
        int index;
        if (found != weight_index_.end()) {
            index = found->second;
        } else {
            index = static_cast<int>(program_.weights.size());
            program_.weights.push_back(*view);
            weight_index_[name] = index;
        }
        return DriverBuffer{BufferBase::Weight, 0, index, weight_extents(view->shape)};
    }

    const Graph &graph_;
    const WeightStore &weights_;
    const MemoryPlan &plan_;
    const Halide::Target &target_;
    DriverProgram program_;
    std::vector<Halide::Module> modules_;
    std::map<std::string, std::string> kernel_names_;
    std::map<std::string, int> weight_index_;
    int layers_ = 0;
};

void write_text(const std::string &path, const std::string &text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out.flush()) {
        throw UserError("cannot write '" + path + "': " + std::strerror(errno),
                        "check that the directory of -o exists and is writable");
    }
}

} // namespace

void validate_target(const std::string &target) {
    if (target == "host" || Halide::Target::validate_target_string(target)) {
        return;
    }
    throw UserError("'" + target + "' is not a Halide target",
                    "targets look like x86-64-linux-avx2-fma, x86-64-linux-avx512_skylake, "
                    "arm-64-linux, x86-64-linux-cuda or host");
}

NetworkModule::NetworkModule() = default;
NetworkModule::NetworkModule(NetworkModule &&) noexcept = default;
NetworkModule::~NetworkModule() = default;

NetworkModule build_network_module(const CompileOptions &options, bool for_jit,
                                   bool layer_hook) {
    validate_target(options.target);
    Halide::Target target =
        options.target == "host" ? Halide::get_host_target() : Halide::Target(options.target);

    Graph graph = load_strata_file(options.source);
    std::string name = options.name.empty() ? graph.name : options.name;
    if (!is_c_identifier(name)) {
        throw UserError("'" + name + "' cannot prefix C symbols",
                        "choose a name of letters, digits and underscores with --name");
    }
    NetworkModule result;
    result.target = target.to_string();
    result.weights =
        options.weights.empty() ? initialize_weights(graph) : load_weights(options.weights);
    verify_weights(graph, result.weights);
    optimise(graph, result.weights, options.optimise);
    MemoryPlan plan = plan_memory(graph);

    ProgramBuilder builder(graph, result.weights, plan, target, name);
    builder.build();
    result.program = builder.program();
    result.program.thread_local_errors = !for_jit;
    result.program.layer_hook = layer_hook;

    // One module, so the library carries exactly one Halide runtime.
    if (builder.modules().empty()) {
        // A network of views only still needs Halide's runtime for the driver.
        Halide::ImageParam unused(Halide::Float(32), 1);
        Halide::Func nothing;
        nothing(Halide::_) = unused(Halide::_);
        builder.modules().push_back(
            Halide::Pipeline(nothing).compile_to_module({unused}, name + "_unused", target));
    }
    result.context = std::make_unique<llvm::LLVMContext>();
    result.module = Halide::compile_module_to_llvm_module(
        Halide::link_modules(name, builder.modules()), *result.context);
    emit_driver(result.program, *result.module);

    CompileSummary &summary = result.summary;
    summary.name = name;
    summary.layers = builder.layers();
    summary.kernels = static_cast<int>(builder.modules().size());
    summary.arena_bytes = plan.arena_bytes;
    for (const TensorView &w : result.program.weights) {
        summary.weight_bytes += w.shape.elements() * 4;
    }
    return result;
}

CompileSummary compile_network(const CompileOptions &options) {
    // Fail on an unwritable output before minutes of compiling, not after.
    write_text(options.output_prefix + ".h", "");
    NetworkModule network = build_network_module(options);
    CompileSummary summary = network.summary;
    summary.library = options.output_prefix + ".a";
    summary.header = options.output_prefix + ".h";

    std::string object = options.output_prefix + ".o";
    {
        auto out = Halide::make_raw_fd_ostream(object);
        Halide::compile_llvm_module_to_object(*network.module, *out);
    }
    Halide::create_static_library({object}, Halide::Target(network.target), summary.library);
    std::remove(object.c_str());

    HeaderBanner banner;
    banner.tool_version = STRATA_VERSION;
    banner.source = options.source;
    banner.target = network.target;
    banner.random_weights = options.weights.empty();
    banner.weights = options.weights.empty() ? "He initialisation, fixed seed (random)"
                                             : options.weights;
    write_text(summary.header, emit_header(network.program, banner));
    return summary;
}

} // namespace strata
