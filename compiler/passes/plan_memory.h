// plan-memory: where every node's output lives while the network runs.
//
// The generated driver runs the nodes in id order and owns one arena whose
// size is fixed at compile time. Each node's output is one of:
//
// - the caller's input buffer (node 0 only) or the caller's output buffer
//   (the network's output, see below);
// - an alias: the same bytes as part of another node's output, with no copy
//   and no kernel. A Flatten aliases its whole input (same bytes, new shape);
//   a Slice of a batch-1 vector aliases its part of the input, one run of
//   bytes at offset index * (its own size); a Slice of a batch-1 map aliases
//   its channels of every pixel: it starts at its first channel and keeps
//   its input's distance from pixel to pixel (storage_strides), so the
//   kernels that read it are compiled for those strides;
// - an alias of a later node: a feature map whose only reader is a concat
//   is written in place, straight into its channels of the concat's buffer
//   (written_in_place), and the concat copies only its other inputs;
// - a range of the arena, 64-byte aligned, free for the next buffer as soon
//   as the last node that reads it, directly or through an alias, has run.
//
// Feature maps (NxCxHxW) are stored channels innermost, the layout the CPU
// kernels vectorise over, while the caller's arrays are PyTorch's NCHW. So a
// 4-D network input or output is an arena buffer that the driver converts
// from or to the caller's array; vectors (NF) are the same in both layouts.
// A Flatten is an alias only of a vector or of a map of one pixel; otherwise
// it is a kernel that reorders the bytes. A Slice that is the network's
// output is a kernel too, so that every output is dense.
//
// A vector output is written straight into the caller's buffer. When the
// output node is a chain of Flattens over a real buffer (`... flatten` at the
// end of a classifier), that buffer is placed in the caller's output buffer
// and the Flattens stay aliases of it, so no copy is needed. Otherwise an
// output Flatten or Slice is not an alias but a real NetworkOutput buffer,
// and the driver fills it by copying `bytes` bytes from the place its alias
// would have viewed (its input's bytes, plus index * bytes for a Slice). A
// network whose output is node 0 (one that does nothing) leaves the copy from
// the input to the output buffer to the driver; no node is NetworkOutput.
//
// A feature map that a conv reads with a window passing its edges is stored
// with a zero border around it (storage_border): as many columns on each
// side of every row and rows above and below as the widest such window
// needs, so that the conv reads the zeros instead of testing each load or
// copying its input into a padded one. Its kernel writes the interior (its
// buffer starts at pixel (0, 0), interior_offset bytes into the storage)
// and the driver zeroes the border just before it runs, since the bytes
// may have held another buffer earlier in the run. Its readers get the
// whole storage, pixel (0, 0) at the same place, with their x and y
// starting at minus the border. Maps that share their bytes with others
// (views, maps written in place, concats written in place, the network's
// output) have no border, and their readers test the edges as before.
//
// Buffers are packed greedily: largest first, each at the lowest offset that
// overlaps no buffer live at the same time (live from the first step that
// writes it through the last step that reads it, both included). So a
// node's output never shares bytes with its inputs, except that a concat's
// inputs written in place fill disjoint channels of one buffer.
//
// Requires: verify_graph holds and infer_shapes has run; float32 data.
// Guarantees: the plan is a pure analysis; the graph is not changed.
#pragma once

#include "graph.h"

#include <cstdint>
#include <vector>

namespace strata {

/// Every arena offset, and the arena's size, is a multiple of this many bytes:
/// a cache line, and the widest vector load (AVX-512) is aligned.
constexpr int64_t kArenaAlignment = 64;

enum class Storage {
    NetworkInput,  // the caller's input buffer (node 0)
    NetworkOutput, // the caller's output buffer
    Arena,         // bytes [offset, offset + bytes) of the arena
    Alias,         // node `base`'s storage from byte `offset` on (see storage_strides)
};

struct Placement {
    Storage storage = Storage::Arena;
    int64_t bytes = 0;  // the node's output size with its border (not rounded up)
    int64_t offset = 0; // Arena: into the arena; Alias: into the base's bytes
    NodeId base = -1;   // Alias only: a node that is not itself an alias
};

struct MemoryPlan {
    std::vector<Placement> placements; // one per node, indexed by node id
    int64_t arena_bytes = 0;           // the arena the driver allocates
    int64_t unshared_bytes = 0;        // the arena's size if no buffer were reused
};

MemoryPlan plan_memory(const Graph &graph);

/// Where `node`'s output starts inside its input's bytes when it can be a
/// view of them (Flatten, Slice, by the rules above), or -1.
int64_t view_offset(const Graph &graph, const Node &node);

/// The concat that `id` writes its output into, in place, or -1: when `id`
/// is a feature map computed by a kernel (not the input, a view or another
/// concat) and its only reader is a concat of batch 1.
NodeId written_in_place(const Graph &graph, NodeId id);

/// Whether every input of `concat` is written in place, so that the concat
/// itself has nothing left to copy and runs no kernel.
bool filled_in_place(const Graph &graph, const Node &concat);

/// The strides, in floats and innermost first, of `id`'s output where it is
/// stored: (1, C, C * (W + 2 * border.x)) for a feature map of C channels,
/// with C the input's channel count instead for a Slice viewing a map, and
/// the concat's for a map written in place; (1) for a vector. Halide's
/// buffers of that output use them.
std::vector<int64_t> storage_strides(const Graph &graph, NodeId id);

/// Zero pixels stored around a feature map on each side (see the top).
struct Border {
    int64_t x = 0; // columns left and right of every row
    int64_t y = 0; // rows above and below
    bool any() const { return x > 0 || y > 0; }
};

/// The zero border that a conv's window needs around its input of shape
/// `in`, along each axis the larger of its padding before the input and its
/// reach past the end.
Border window_border(const Node &conv, const Shape &in);

/// The border stored around `id`'s output: the widest window_border of the
/// convs that read it as their operand, when it is a feature map with
/// storage of its own (see the top); otherwise none.
Border storage_border(const Graph &graph, NodeId id);

/// Bytes from the start of `id`'s storage to its pixel (0, 0): past the
/// border rows above it and the border columns left of its first row.
int64_t interior_offset(const Graph &graph, NodeId id);

/// Whether `node`'s output is stored in the internal channels-innermost
/// layout (a feature map) rather than PyTorch's (a vector).
bool in_internal_layout(const Node &node);

} // namespace strata
