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
#include <cstdio>
#include <cstring>
#include <deque>
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

std::vector<int64_t> widen(const std::vector<int> &extents) {
    return std::vector<int64_t>(extents.begin(), extents.end());
}

// The caller's arrays are PyTorch's layout: NCHW is (W, H, C) innermost first.
std::vector<int64_t> caller_extents(const Shape &shape) {
    return std::vector<int64_t>(shape.dims.rbegin(), shape.dims.rend() - 1);
}

// Builds the driver's program: the input converted to the internal layout,
// the calls in node order with every tensor placed by the memory plan and
// one kernel per distinct lowering key, then the output converted back.
class ProgramBuilder {
  public:
    ProgramBuilder(const Graph &graph, const WeightStore &weights, const MemoryPlan &plan,
                   const Halide::Target &target, const std::string &name,
                   std::deque<PackedWeight> &packed)
        : graph_(graph), weights_(weights), plan_(plan), target_(target), packed_(packed) {
        program_.name = name;
        program_.input = graph.input().shape;
        program_.output = graph.output_node().shape;
        program_.arena_bytes = plan.arena_bytes;
        program_.gpu = target.has_gpu_feature();
    }

    void build() {
        if (in_internal_layout(graph_.input())) {
            convert(graph_.input(), true);
        }
        for (const Node &node : graph_.nodes) {
            const Placement &place = plan_.placements.at(node.id);
            const bool view =
                place.storage == Storage::Alias && written_in_place(graph_, node.id) < 0;
            if (node.op == OpKind::Input || view || filled_in_place(graph_, node)) {
                continue;
            }
            if (view_offset(graph_, node) >= 0) {
                copy_view(node);
                continue;
            }
            call_kernel(node);
        }
        if (in_internal_layout(graph_.output_node())) {
            convert(graph_.output_node(), false);
        } else if (graph_.output == 0) {
            // A network that does nothing to a vector copies it.
            DriverCall copy;
            copy.layer = "input";
            copy.inputs.push_back(buffer_of(0));
            copy.output = DriverBuffer{BufferBase::Output, 0, -1, buffer_of(0).extents, {}, {}};
            program_.calls.push_back(copy);
        }
    }

    DriverProgram &program() { return program_; }
    std::vector<Halide::Module> &modules() { return modules_; }
    int layers() const { return layers_; }

  private:
    // A Flatten or Slice that the plan could not alias (the network's
    // output): copy the bytes its view would have shown.
    void copy_view(const Node &node) {
        DriverCall copy;
        copy.layer = node.name;
        DriverBuffer source = buffer_of(node.inputs.at(0));
        source.byte_offset += view_offset(graph_, node);
        copy.inputs.push_back(source);
        copy.output = buffer_of(node.id);
        program_.calls.push_back(copy);
    }

    // Between the caller's NCHW array and the arena's internal layout.
    void convert(const Node &node, bool to_internal) {
        DriverCall call;
        call.layer = to_internal ? "(input to internal layout)" : "(output to NCHW)";
        call.kernel = kernel_for(lower_layout_conversion(node.shape, to_internal, target_,
                                                         storage_strides(graph_, node.id)));
        DriverBuffer caller{to_internal ? BufferBase::Input : BufferBase::Output,
                            0,
                            -1,
                            caller_extents(node.shape),
                            {},
                            {}};
        call.inputs.push_back(to_internal ? caller : buffer_of(node.id));
        call.output = to_internal ? output_of(node.id, call) : caller;
        program_.calls.push_back(call);
    }

    std::string kernel_for(LoweredKernel lowered) {
        auto found = kernel_names_.find(lowered.key);
        if (found != kernel_names_.end()) {
            return found->second;
        }
        std::string kernel = program_.name + "_k" + std::to_string(kernel_names_.size());
        kernel_names_[lowered.key] = kernel;
        modules_.push_back(lowered.pipeline.compile_to_module(lowered.arguments, kernel, target_));
        return kernel;
    }

    void call_kernel(const Node &node) {
        LoweredKernel lowered = lower_node(graph_, node, target_);
        DriverCall call;
        call.kernel = kernel_for(lowered);
        call.algorithm = lowered.algorithm;
        call.layer = node.name;
        for (NodeId input : node.inputs) {
            call.inputs.push_back(buffer_of(input));
        }
        std::vector<ParameterSpec> specs = parameters_of(graph_, node);
        check_internal(specs.size() == lowered.weight_packers.size(),
                       "a kernel has one weight packer per weight");
        for (size_t i = 0; i < specs.size(); ++i) {
            call.inputs.push_back(
                weight(node.name + "." + specs[i].suffix, lowered.weight_packers[i]));
        }
        check_internal(call.inputs.size() == lowered.arguments.size(),
                       "a kernel's arguments are its inputs, then its weights");
        call.output = output_of(node.id, call);
        call.macs = macs_of(graph_, node);
        program_.calls.push_back(call);
        ++layers_;
    }

    // Where `id`'s output is, as its readers see it: with a zero border
    // (plan_memory.h), the whole storage, x and y from minus the border.
    DriverBuffer buffer_of(NodeId id) {
        const Placement &place = plan_.placements.at(id);
        DriverBuffer b;
        b.extents = widen(halide_extents(graph_.node(id).shape));
        const Border border = storage_border(graph_, id);
        if (place.storage == Storage::Alias || border.any()) {
            b.strides = storage_strides(graph_, id);
        }
        if (border.any()) {
            b.extents[1] += 2 * border.x;
            b.extents[2] += 2 * border.y;
            b.mins = {0, -border.x, -border.y};
        }
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

    // Where the kernel that computes `id` writes it: within its border, if
    // any, which `call` zeroes first.
    DriverBuffer output_of(NodeId id, DriverCall &call) {
        DriverBuffer b = buffer_of(id);
        const Border border = storage_border(graph_, id);
        if (!border.any()) {
            return b;
        }
        const int64_t start = b.byte_offset;
        const int64_t interior = interior_offset(graph_, id);
        const int64_t pixel = b.strides[1] * 4, row = b.strides[2] * 4;
        const int64_t width = graph_.node(id).shape.dims[3];
        const int64_t height = graph_.node(id).shape.dims[2];
        // Above the first pixel; between the end of each row and the start
        // of the next (the right border, then the left); after the last.
        const int64_t last_row_end = interior + (height - 1) * row + width * pixel;
        call.zero_first.push_back(ZeroRuns{start, interior, 0, 1});
        if (border.x > 0 && height > 1) {
            call.zero_first.push_back(
                ZeroRuns{start + interior + width * pixel, 2 * border.x * pixel, row, height - 1});
        }
        call.zero_first.push_back(
            ZeroRuns{start + last_row_end, plan_.placements.at(id).bytes - last_row_end, 0, 1});
        b.byte_offset = start + interior;
        b.extents = widen(halide_extents(graph_.node(id).shape));
        b.mins.clear();
        return b;
    }

    // Each tensor is packed once, into the layout its kernel reads.
    DriverBuffer weight(const std::string &name, const WeightPacker &pack) {
        auto found = weight_index_.find(name);
        if (found == weight_index_.end()) {
            const TensorView *view = weights_.find(name);
            check_internal(view != nullptr, "verify_weights found every tensor");
            const PackedWeight &packed = packed_.emplace_back(pack(*view));
            Shape shape;
            for (auto it = packed.extents.rbegin(); it != packed.extents.rend(); ++it) {
                shape.dims.push_back(*it);
            }
            check_internal(static_cast<size_t>(shape.elements()) == packed.data.size(),
                           "a packed weight's extents match its data");
            found = weight_index_.emplace(name, static_cast<int>(program_.weights.size())).first;
            program_.weights.push_back(TensorView{shape, packed.data.data()});
        }
        const TensorView &view = program_.weights[found->second];
        return DriverBuffer{BufferBase::Weight,
                            0,
                            found->second,
                            std::vector<int64_t>(view.shape.dims.rbegin(), view.shape.dims.rend()),
                            {},
                            {}};
    }

    const Graph &graph_;
    const WeightStore &weights_;
    const MemoryPlan &plan_;
    const Halide::Target &target_;
    std::deque<PackedWeight> &packed_;
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

NetworkModule build_network_module(const CompileOptions &options, bool for_jit, bool layer_hook) {
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

    ProgramBuilder builder(graph, result.weights, plan, target, name, result.packed_weights);
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
    banner.weights =
        options.weights.empty() ? "He initialisation, fixed seed (random)" : options.weights;
    write_text(summary.header, emit_header(network.program, banner));
    return summary;
}

} // namespace strata
