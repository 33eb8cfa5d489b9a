// The driver of a compiled network, described without LLVM or Halide: which
// kernel runs in which order on which bytes. The code generator fills it from
// the optimised graph and its memory plan; emit_driver turns it into code and
// emit_header into the C header that describes that code.
#pragma once

#include "graph.h"
#include "tensor.h"

#include <string>
#include <vector>

namespace strata {

/// Where a kernel argument's bytes are.
enum class BufferBase {
    Input,  // the caller's input array
    Output, // the caller's output array
    Arena,  // the workspace
    Weight, // a constant tensor inside the library
};

struct DriverBuffer {
    BufferBase base = BufferBase::Arena;
    int64_t byte_offset = 0; // from the start of the base
    int weight = -1;         // index into DriverProgram::weights when base is Weight
    /// Halide's dimensions, innermost first, dense: a feature map in the
    /// caller's NCHW array is (W, H, C), in the arena (C, W, H); a vector (F).
    std::vector<int64_t> extents;
    /// Elements between neighbours along each dimension, innermost first;
    /// empty when dense. A channel slice of a map steps over the channels
    /// it leaves out, a map with a zero border over the border's columns
    /// (plan_memory.h, storage_strides).
    std::vector<int64_t> strides;
    /// The first index along each dimension, innermost first; empty when
    /// all are 0. A reader of a map with a zero border starts at minus the
    /// border along x and y, and byte_offset is then that of the border's
    /// first byte.
    std::vector<int64_t> mins;
};

/// `count` runs of `bytes` zero bytes, `stride` bytes apart, the first at
/// `byte_offset` of the arena.
struct ZeroRuns {
    int64_t byte_offset = 0;
    int64_t bytes = 0;
    int64_t stride = 0;
    int64_t count = 1;
};

/// One step of the driver: a kernel call, or, when `kernel` is empty, a copy
/// of output.extents' elements from inputs[0] to output (a network output
/// that would otherwise be a view of another buffer).
struct DriverCall {
    /// Set to zero before the call: the border of its output (plan_memory.h).
    std::vector<ZeroRuns> zero_first;
    std::string kernel;               // a function in the linked kernel module
    std::vector<DriverBuffer> inputs; // the kernel's arguments in order
    DriverBuffer output;
    std::string layer;     // the node it computes, for messages
    int64_t macs = 0;      // its multiply-accumulates, for benchmarks
    std::string algorithm; // LoweredKernel::algorithm, for benchmarks
};

struct DriverProgram {
    std::string name; // C identifier prefix of every exported symbol
    Shape input;
    Shape output;
    int64_t arena_bytes = 0;
    std::vector<DriverCall> calls;
    std::vector<TensorView> weights;
    bool gpu = false; // kernels run on a device: copy results back after each call
    /// Where the message of a failure is kept: per thread in a library; in
    /// one global when run by the JIT, which cannot relocate thread-locals.
    bool thread_local_errors = true;
    /// Call `void LAYER_HOOK(int call_index)` after each call: `strata bench
    /// --per-layer` times layers with it.
    bool layer_hook = false;
};

/// The symbol of DriverProgram::layer_hook.
constexpr const char *kLayerHookSymbol = "strata_layer_done";

/// Bytes the caller must pass to NAME_run_with_workspace: the arena plus
/// room to align it to 64 bytes; 0 when the network needs no arena.
int64_t workspace_bytes(const DriverProgram &program);

} // namespace strata
