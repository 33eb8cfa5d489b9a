#include "passes/plan_memory.h"

#include "graph_edit.h"

#include <algorithm>

namespace strata {

namespace {

constexpr int64_t kFloatBytes = 4;

int64_t output_bytes(const Node &node) {
    return node.shape.elements() * kFloatBytes;
}

// The node's output with its border.
int64_t stored_bytes(const Graph &graph, const Node &node) {
    const Border border = storage_border(graph, node.id);
    if (!border.any()) {
        return output_bytes(node);
    }
    const std::vector<int64_t> &dims = node.shape.dims;
    return dims[1] * (dims[3] + 2 * border.x) * (dims[2] + 2 * border.y) * kFloatBytes;
}

// How far a window reaches outside an input of `input` elements along one
// axis: its padding before, or past the last element.
int64_t overhang(int64_t input, int64_t output, int64_t kernel, int64_t stride, int64_t pad_begin,
                 int64_t dilation) {
    const int64_t last = (output - 1) * stride - pad_begin + (kernel - 1) * dilation;
    return std::max({int64_t{0}, pad_begin, last - (input - 1)});
}

// Whether `node` is a view of its input's bytes.
bool is_view(const Graph &graph, const Node &node) {
    return node.op != OpKind::Input && view_offset(graph, node) >= 0;
}

// Depthwise convs are left to test the edges on each load: with MobileNet
// V2's depthwise inputs stored with borders, its depthwise layers ran no
// faster (one thread, Zen 5), and zeroing the borders of its 7x7 and 14x14
// maps (65% and 29% of their bytes) made their producers 3-8% slower.
bool is_depthwise(const Node &conv, const Shape &in) {
    const ConvAttrs &attrs = conv.attr<ConvAttrs>();
    return attrs.groups > 1 && attrs.groups == in.dims[1] && attrs.groups == attrs.out_channels;
}

// Whether some input of `node` is written in place into its buffer.
bool has_inputs_in_place(const Graph &graph, const Node &node) {
    return std::any_of(node.inputs.begin(), node.inputs.end(),
                       [&](NodeId in) { return written_in_place(graph, in) == node.id; });
}

int64_t align_up(int64_t bytes) {
    return (bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
}

// Where input `id`'s channels start among the concat's.
int64_t channel_offset_in(const Graph &graph, NodeId concat, NodeId id) {
    int64_t begin = 0;
    for (NodeId in : graph.node(concat).inputs) {
        if (in == id) {
            return begin;
        }
        begin += graph.node(in).shape.dims[1];
    }
    throw InternalError("plan_memory: a node written in place is an input of its concat");
}

// Every node on its own storage, then views resolved to the node that really
// holds their bytes: an alias of an alias views the first one's base.
std::vector<Placement> place_nodes(const Graph &graph) {
    std::vector<Placement> placements(graph.nodes.size());
    for (const Node &node : graph.nodes) {
        check_internal(!node.shape.dims.empty(), "plan_memory: shapes must be inferred first");
        Placement &p = placements[node.id];
        p.bytes = stored_bytes(graph, node);
        p.storage =
            node.id == 0 && !in_internal_layout(node) ? Storage::NetworkInput : Storage::Arena;
        NodeId concat = written_in_place(graph, node.id);
        if (concat >= 0) {
            p.storage = Storage::Alias;
            p.base = concat;
            p.offset = channel_offset_in(graph, concat, node.id) * kFloatBytes;
            continue;
        }
        int64_t offset = node.id == 0 ? -1 : view_offset(graph, node);
        if (offset < 0) {
            continue;
        }
        const Placement &src = placements[node.inputs[0]];
        bool src_is_view = src.storage == Storage::Alias;
        p.storage = Storage::Alias;
        p.base = src_is_view ? src.base : node.inputs[0];
        p.offset = (src_is_view ? src.offset : 0) + offset;
    }
    return placements;
}

// Puts the network's output in the caller's buffer (see the header).
void place_output(const Graph &graph, std::vector<Placement> &placements) {
    if (graph.output == 0) {
        return; // the driver copies (or converts) the input
    }
    Placement &out = placements[graph.output];
    if (in_internal_layout(graph.output_node())) {
        return; // the driver converts it into the caller's buffer
    }
    if (out.storage != Storage::Alias) {
        out.storage = Storage::NetworkOutput;
        return;
    }
    Placement &base = placements[out.base];
    if (out.offset == 0 && out.bytes == base.bytes && base.storage == Storage::Arena) {
        base.storage = Storage::NetworkOutput; // the output views all of it
        return;
    }
    out = Placement{Storage::NetworkOutput, out.bytes, 0, -1};
}

// A buffer is live from the first step that writes it (a concat's buffer:
// the first of its inputs written in place) through the last step that
// reads it, directly or through an alias; both ends are included.
struct Lifetime {
    NodeId first = 0;
    NodeId last = 0;
};

std::vector<Lifetime> lifetimes(const Graph &graph, const std::vector<Placement> &placements) {
    const NodeId never = static_cast<NodeId>(graph.nodes.size());
    std::vector<Lifetime> lives(graph.nodes.size(), Lifetime{never, 0});
    auto holder = [&](NodeId id) {
        return placements[id].storage == Storage::Alias ? placements[id].base : id;
    };
    for (const Node &node : graph.nodes) {
        lives[node.id].first = std::min(lives[node.id].first, node.id);
        lives[node.id].last = std::max(lives[node.id].last, node.id);
        const Placement &p = placements[node.id];
        if (p.storage == Storage::Alias && p.base > node.id) {
            lives[p.base].first = std::min(lives[p.base].first, node.id);
        }
        for (NodeId in : node.inputs) {
            lives[holder(in)].last = std::max(lives[holder(in)].last, node.id);
        }
    }
    // The driver's final conversion reads the output after the last node.
    NodeId end = static_cast<NodeId>(graph.nodes.size());
    lives[holder(graph.output)].last = end;
    return lives;
}

bool overlap_in_time(const Lifetime &a, const Lifetime &b) {
    return a.first <= b.last && b.first <= a.last;
}

// Greedy by size: the largest buffers are placed first, each at the lowest
// aligned offset where it overlaps no placed buffer that is live at the same
// time. Simple, and close to optimal on CNNs, whose large early activations
// dominate.
void pack_arena(const Graph &graph, MemoryPlan &plan) {
    std::vector<Lifetime> lives = lifetimes(graph, plan.placements);
    std::vector<NodeId> order;
    for (const Node &node : graph.nodes) {
        if (plan.placements[node.id].storage == Storage::Arena) {
            order.push_back(node.id);
        }
    }
    auto size_of = [&](NodeId id) { return align_up(plan.placements[id].bytes); };
    std::stable_sort(order.begin(), order.end(),
                     [&](NodeId a, NodeId b) { return size_of(a) > size_of(b); });

    std::vector<NodeId> placed;
    for (NodeId id : order) {
        std::vector<NodeId> neighbours; // placed and live at the same time, by offset
        for (NodeId other : placed) {
            if (overlap_in_time(lives[id], lives[other])) {
                neighbours.push_back(other);
            }
        }
        std::sort(neighbours.begin(), neighbours.end(), [&](NodeId a, NodeId b) {
            return plan.placements[a].offset < plan.placements[b].offset;
        });

        int64_t offset = 0;
        for (NodeId other : neighbours) {
            const Placement &p = plan.placements[other];
            if (offset + size_of(id) <= p.offset) {
                break; // the gap below `other` fits
            }
            offset = std::max(offset, p.offset + size_of(other));
        }
        plan.placements[id].offset = offset;
        plan.arena_bytes = std::max(plan.arena_bytes, offset + size_of(id));
        plan.unshared_bytes += size_of(id);
        placed.push_back(id);
    }
}

} // namespace

// Feature maps are stored channels innermost, so a flatten is a view only of
// a vector or of a map of one pixel.
int64_t view_offset(const Graph &graph, const Node &node) {
    if (!node.epilogue.empty()) {
        return -1;
    }
    const Shape &in = graph.node(node.inputs.at(0)).shape;
    bool one_pixel = in.rank() == 4 && in.dims[2] * in.dims[3] == 1;
    if (node.op == OpKind::Flatten && (in.rank() == 2 || one_pixel)) {
        return 0;
    }
    if (node.op != OpKind::Slice || in.dims[0] != 1) {
        return -1;
    }
    // Part i of NF with N = 1 is features [i*F/P, (i+1)*F/P): one run of bytes.
    if (in.rank() == 2) {
        return node.attr<SliceAttrs>().index * output_bytes(node);
    }
    // Part i of a map starts at channel i*C/P of its first pixel, and steps
    // from pixel to pixel as its input does (storage_strides). The network's
    // output stays dense for the conversion to the caller's layout.
    if (node.id == graph.output) {
        return -1;
    }
    return node.attr<SliceAttrs>().index * node.shape.dims[1] * kFloatBytes;
}

NodeId written_in_place(const Graph &graph, NodeId id) {
    const Node &node = graph.node(id);
    if (id == 0 || !in_internal_layout(node) || node.op == OpKind::Concat ||
        view_offset(graph, node) >= 0) {
        return -1;
    }
    NodeId reader = only_reader(graph, id);
    if (reader < 0) {
        return -1;
    }
    const Node &concat = graph.node(reader);
    if (concat.op != OpKind::Concat || !concat.epilogue.empty() || concat.shape.dims[0] != 1) {
        return -1;
    }
    return reader;
}

bool filled_in_place(const Graph &graph, const Node &concat) {
    return concat.op == OpKind::Concat &&
           std::all_of(concat.inputs.begin(), concat.inputs.end(),
                       [&](NodeId in) { return written_in_place(graph, in) == concat.id; });
}

std::vector<int64_t> storage_strides(const Graph &graph, NodeId id) {
    const Node &node = graph.node(id);
    if (!in_internal_layout(node)) {
        return {1};
    }
    NodeId concat = written_in_place(graph, id);
    if (concat >= 0) {
        return storage_strides(graph, concat);
    }
    int64_t pixel = node.shape.dims[1];
    if (node.op == OpKind::Slice && view_offset(graph, node) >= 0) {
        pixel = storage_strides(graph, node.inputs[0])[1];
    }
    return {1, pixel, pixel * (node.shape.dims[3] + 2 * storage_border(graph, id).x)};
}

Border window_border(const Node &conv, const Shape &in) {
    const Window &w = conv.attr<ConvAttrs>().window;
    const Shape &out = conv.shape;
    Border border;
    border.x =
        overhang(in.dims[3], out.dims[3], w.kernel.w, w.stride.w, w.pad_begin.w, w.dilation.w);
    border.y =
        overhang(in.dims[2], out.dims[2], w.kernel.h, w.stride.h, w.pad_begin.h, w.dilation.h);
    return border;
}

Border storage_border(const Graph &graph, NodeId id) {
    const Node &node = graph.node(id);
    const bool own_storage = in_internal_layout(node) && id != graph.output &&
                             written_in_place(graph, id) < 0 && !is_view(graph, node) &&
                             !has_inputs_in_place(graph, node);
    Border border;
    if (!own_storage) {
        return border;
    }
    for (const Node &reader : graph.nodes) {
        const bool reads =
            std::find(reader.inputs.begin(), reader.inputs.end(), id) != reader.inputs.end();
        if (reads && is_view(graph, reader)) {
            return Border{}; // the view's offsets and strides assume none
        }
        if (reads && reader.op == OpKind::Conv && reader.inputs[0] == id &&
            !is_depthwise(reader, node.shape)) {
            const Border needed = window_border(reader, node.shape);
            border.x = std::max(border.x, needed.x);
            border.y = std::max(border.y, needed.y);
        }
    }
    return border;
}

int64_t interior_offset(const Graph &graph, NodeId id) {
    const Border border = storage_border(graph, id);
    const std::vector<int64_t> strides = storage_strides(graph, id);
    return (border.y * strides.back() + border.x * strides[1]) * kFloatBytes;
}

bool in_internal_layout(const Node &node) {
    return node.shape.rank() == 4;
}

MemoryPlan plan_memory(const Graph &graph) {
    verify_graph(graph);
    MemoryPlan plan;
    plan.placements = place_nodes(graph);
    place_output(graph, plan.placements);
    pack_arena(graph, plan);
    return plan;
}

} // namespace strata
