#include "reference_interpreter.h"

#include "parameters.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace strata {
namespace {

// ---------------------------------------------------------------------------
// Checks and views shared by the operators.
// ---------------------------------------------------------------------------

[[noreturn]] void fail(const Node &node, const std::string &invariant) {
    throw InternalError("reference interpreter, node '" + node.name + "' (" + op_name(node.op) +
                        "): " + invariant);
}

void expect(bool condition, const Node &node, const std::string &invariant) {
    if (!condition) {
        fail(node, invariant);
    }
}

void expect_shape(const Shape &actual, const Shape &expected, const Node &node,
                  const std::string &what) {
    if (actual != expected) {
        fail(node, what + " has shape " + actual.str() + ", expected " + expected.str());
    }
}

// A tensor seen as [outer, channels, inner], channels being dimension 1: the
// view every channel-wise operator uses, so that one loop serves NCHW feature
// maps (inner = H*W) and NF vectors (inner = 1) alike.
struct ChannelView {
    int64_t outer = 1;
    int64_t channels = 1;
    int64_t inner = 1;
};

ChannelView channel_view(const Shape &shape, const Node &node) {
    expect(shape.rank() >= 2, node, "a tensor of shape " + shape.str() + " has no channel axis");
    ChannelView view;
    view.outer = shape.dims[0];
    view.channels = shape.dims[1];
    for (int i = 2; i < shape.rank(); ++i) {
        view.inner *= shape.dims[i];
    }
    return view;
}

// The NCHW sizes of a feature map.
struct FeatureMap {
    int64_t n = 0;
    int64_t c = 0;
    int64_t h = 0;
    int64_t w = 0;
};

FeatureMap feature_map(const Shape &shape, const Node &node) {
    expect(shape.rank() == 4, node, "expected an NCHW feature map, got shape " + shape.str());
    return {shape.dims[0], shape.dims[1], shape.dims[2], shape.dims[3]};
}

// The output H and W a window gives, under the same rule shape inference
// uses; the interpreter checks that node.shape agrees with it.
void expect_window_output(const Window &window, const FeatureMap &src, const FeatureMap &dst,
                          const Node &node) {
    expect(window.kernel.h >= 1 && window.kernel.w >= 1 && window.stride.h >= 1 &&
               window.stride.w >= 1 && window.dilation.h >= 1 && window.dilation.w >= 1,
           node, "kernel, stride and dilation must be positive");
    expect(window.pad_begin.h >= 0 && window.pad_begin.w >= 0 && window.pad_end.h >= 0 &&
               window.pad_end.w >= 0,
           node, "padding must not be negative");
    int64_t h = window_output_size(src.h, window.kernel.h, window.stride.h, window.pad_begin.h,
                                   window.pad_end.h, window.dilation.h, window.ceil_mode);
    int64_t w = window_output_size(src.w, window.kernel.w, window.stride.w, window.pad_begin.w,
                                   window.pad_end.w, window.dilation.w, window.ceil_mode);
    expect(dst.n == src.n && dst.h == h && dst.w == w && h >= 1 && w >= 1, node,
           "inferred output height and width " + std::to_string(dst.h) + "x" +
               std::to_string(dst.w) + " disagree with the window's " + std::to_string(h) + "x" +
               std::to_string(w));
}

// The parameter `suffix` of `node`, checked against the shape parameters_of
// gives it, so that a wrong tensor can never be read out of bounds.
TensorView fetch_parameter(const Graph &graph, const Node &node, const WeightSource &weights,
                           const std::string &suffix) {
    for (const ParameterSpec &spec : parameters_of(graph, node)) {
        if (spec.suffix != suffix) {
            continue;
        }
        std::string name = node.name + "." + suffix;
        TensorView view = weights(name);
        expect(view.data != nullptr, node, "parameter '" + name + "' has no data");
        expect_shape(view.shape, spec.shape, node, "parameter '" + name + "'");
        return view;
    }
    fail(node, "has no parameter called '" + suffix + "'");
}

const float *fetch_optional_bias(const Graph &graph, const Node &node, const WeightSource &weights,
                                 bool has_bias) {
    return has_bias ? fetch_parameter(graph, node, weights, "bias").data : nullptr;
}

// ---------------------------------------------------------------------------
// Convolution.
//
// For each output channel, a double accumulator plane is filled one kernel
// tap at a time: for a fixed (input channel, ky, kx) the tap reads input
// pixel (oy*stride - pad + ky*dilation, ox*stride - pad + kx*dilation), so
// the innermost loop runs along an output row with a fixed input row. Taps
// that land in the padding read zero and are skipped.
// ---------------------------------------------------------------------------

// The output positions o in [begin, end) whose input index o*stride + offset
// lies inside [0, size). The index grows with o, so they are contiguous.
struct OutputRange {
    int64_t begin = 0;
    int64_t end = 0;
};

OutputRange inside_input(int64_t outputs, int64_t stride, int64_t offset, int64_t size) {
    OutputRange range;
    bool found = false;
    for (int64_t o = 0; o < outputs; ++o) {
        int64_t i = o * stride + offset;
        if (i >= 0 && i < size) {
            if (!found) {
                range.begin = o;
                found = true;
            }
            range.end = o + 1;
        }
    }
    return range;
}

// Adds weight * src_plane(tap) to every output position of `acc` whose tap
// for kernel position (ky, kx) lies inside the input plane.
void accumulate_tap(std::vector<double> &acc, const float *src_plane, double weight,
                    const Window &window, const FeatureMap &src, const FeatureMap &dst, int64_t ky,
                    int64_t kx) {
    int64_t row_offset = ky * window.dilation.h - window.pad_begin.h;
    int64_t col_offset = kx * window.dilation.w - window.pad_begin.w;
    OutputRange rows = inside_input(dst.h, window.stride.h, row_offset, src.h);
    OutputRange cols = inside_input(dst.w, window.stride.w, col_offset, src.w);

    for (int64_t oy = rows.begin; oy < rows.end; ++oy) {
        const float *src_row = src_plane + (oy * window.stride.h + row_offset) * src.w;
        double *acc_row = acc.data() + oy * dst.w;
        for (int64_t ox = cols.begin; ox < cols.end; ++ox) {
            acc_row[ox] += weight * src_row[ox * window.stride.w + col_offset];
        }
    }
}

Tensor eval_conv(const Graph &graph, const Node &node, const Tensor &src,
                 const WeightSource &weights) {
    const ConvAttrs &conv = node.attr<ConvAttrs>();
    const Window &window = conv.window;
    FeatureMap in = feature_map(src.shape, node);
    FeatureMap out = feature_map(node.shape, node);
    expect_window_output(window, in, out, node);
    expect(out.c == conv.out_channels, node, "output channels disagree with the attribute");
    expect(conv.groups >= 1 && in.c % conv.groups == 0 && out.c % conv.groups == 0, node,
           "groups must divide the input and output channels");

    // Weight layout OIHW with I = in.c / groups: output channel oc of group g
    // reads input channels [g * in_per_group, (g + 1) * in_per_group).
    TensorView weight = fetch_parameter(graph, node, weights, "weight");
    const float *bias = fetch_optional_bias(graph, node, weights, conv.bias);
    int64_t in_per_group = in.c / conv.groups;
    int64_t out_per_group = out.c / conv.groups;
    int64_t taps = window.kernel.h * window.kernel.w;

    Tensor dst(node.shape);
    std::vector<double> acc(static_cast<size_t>(out.h * out.w));
    for (int64_t n = 0; n < out.n; ++n) {
        for (int64_t oc = 0; oc < out.c; ++oc) {
            int64_t group = oc / out_per_group;
            std::fill(acc.begin(), acc.end(), bias ? double(bias[oc]) : 0.0);
            for (int64_t i = 0; i < in_per_group; ++i) {
                int64_t ic = group * in_per_group + i;
                const float *src_plane = src.data.data() + (n * in.c + ic) * in.h * in.w;
                const float *kernel = weight.data + (oc * in_per_group + i) * taps;
                for (int64_t ky = 0; ky < window.kernel.h; ++ky) {
                    for (int64_t kx = 0; kx < window.kernel.w; ++kx) {
                        accumulate_tap(acc, src_plane, kernel[ky * window.kernel.w + kx], window,
                                       in, out, ky, kx);
                    }
                }
            }
            float *dst_plane = dst.data.data() + (n * out.c + oc) * out.h * out.w;
            std::copy(acc.begin(), acc.end(), dst_plane);
        }
    }
    return dst;
}

// ---------------------------------------------------------------------------
// Pooling.
// ---------------------------------------------------------------------------

Tensor eval_max_pool(const Node &node, const Tensor &src) {
    const Window &window = node.attr<PoolAttrs>().window;
    FeatureMap in = feature_map(src.shape, node);
    FeatureMap out = feature_map(node.shape, node);
    expect_window_output(window, in, out, node);
    expect(out.c == in.c, node, "pooling must keep the channel count");

    // Padding acts as -inf: only taps inside the input take part. Like
    // PyTorch, a NaN in the window wins.
    Tensor dst(node.shape);
    float *d = dst.data.data();
    for (int64_t plane = 0; plane < out.n * out.c; ++plane) {
        const float *s = src.data.data() + plane * in.h * in.w;
        for (int64_t oy = 0; oy < out.h; ++oy) {
            for (int64_t ox = 0; ox < out.w; ++ox) {
                float best = -std::numeric_limits<float>::infinity();
                for (int64_t ky = 0; ky < window.kernel.h; ++ky) {
                    int64_t iy = oy * window.stride.h - window.pad_begin.h + ky * window.dilation.h;
                    if (iy < 0 || iy >= in.h) {
                        continue;
                    }
                    for (int64_t kx = 0; kx < window.kernel.w; ++kx) {
                        int64_t ix =
                            ox * window.stride.w - window.pad_begin.w + kx * window.dilation.w;
                        if (ix < 0 || ix >= in.w) {
                            continue;
                        }
                        float v = s[iy * in.w + ix];
                        if (v > best || std::isnan(v)) {
                            best = v;
                        }
                    }
                }
                *d++ = best;
            }
        }
    }
    return dst;
}

// One axis of an average-pooling window, as PyTorch's avg_pool2d sees it:
// `padded` counts the positions inside [-pad_begin, size + pad_end), the
// divisor under count_include_pad (a ceil-mode window that runs past the end
// padding is not charged for the overhang); [first, last) are the positions
// inside the input, the only ones that are summed.
struct PoolAxis {
    int64_t first = 0;
    int64_t last = 0;
    int64_t padded = 0;
};

PoolAxis pool_axis(int64_t o, int64_t size, int64_t kernel, int64_t stride, int64_t pad_begin,
                   int64_t pad_end) {
    int64_t start = o * stride - pad_begin;
    int64_t end = std::min(start + kernel, size + pad_end);
    PoolAxis axis;
    axis.padded = end - start;
    axis.first = std::max<int64_t>(start, 0);
    axis.last = std::min(end, size);
    return axis;
}

Tensor eval_avg_pool(const Node &node, const Tensor &src) {
    const PoolAttrs &pool = node.attr<PoolAttrs>();
    const Window &window = pool.window;
    FeatureMap in = feature_map(src.shape, node);
    FeatureMap out = feature_map(node.shape, node);
    expect_window_output(window, in, out, node);
    expect(out.c == in.c, node, "pooling must keep the channel count");
    expect(window.dilation.h == 1 && window.dilation.w == 1, node,
           "average pooling with dilation is not supported");

    Tensor dst(node.shape);
    float *d = dst.data.data();
    for (int64_t plane = 0; plane < out.n * out.c; ++plane) {
        const float *s = src.data.data() + plane * in.h * in.w;
        for (int64_t oy = 0; oy < out.h; ++oy) {
            PoolAxis y = pool_axis(oy, in.h, window.kernel.h, window.stride.h, window.pad_begin.h,
                                   window.pad_end.h);
            for (int64_t ox = 0; ox < out.w; ++ox) {
                PoolAxis x = pool_axis(ox, in.w, window.kernel.w, window.stride.w,
                                       window.pad_begin.w, window.pad_end.w);
                double sum = 0.0;
                for (int64_t iy = y.first; iy < y.last; ++iy) {
                    for (int64_t ix = x.first; ix < x.last; ++ix) {
                        sum += s[iy * in.w + ix];
                    }
                }
                int64_t divisor = pool.count_include_pad ? y.padded * x.padded
                                                         : (y.last - y.first) * (x.last - x.first);
                expect(divisor > 0, node, "an average-pooling window covers no input");
                *d++ = static_cast<float>(sum / double(divisor));
            }
        }
    }
    return dst;
}

// Global pooling reduces each H x W plane to one value, keeping NCHW (1x1).
Tensor eval_global_pool(const Node &node, const Tensor &src) {
    FeatureMap in = feature_map(src.shape, node);
    expect_shape(node.shape, Shape{{in.n, in.c, 1, 1}}, node, "the output");
    bool average = node.op == OpKind::GlobalAvgPool;
    int64_t area = in.h * in.w;
    expect(area > 0, node, "global pooling of an empty plane");

    Tensor dst(node.shape);
    for (int64_t plane = 0; plane < in.n * in.c; ++plane) {
        const float *s = src.data.data() + plane * area;
        if (average) {
            double sum = 0.0;
            for (int64_t i = 0; i < area; ++i) {
                sum += s[i];
            }
            dst.data[plane] = static_cast<float>(sum / double(area));
        } else {
            float best = -std::numeric_limits<float>::infinity();
            for (int64_t i = 0; i < area; ++i) {
                if (s[i] > best || std::isnan(s[i])) {
                    best = s[i];
                }
            }
            dst.data[plane] = best;
        }
    }
    return dst;
}

// ---------------------------------------------------------------------------
// Per-channel and element-wise operators.
// ---------------------------------------------------------------------------

// Inference batch norm: (x - mean) / sqrt(var + eps) * weight + bias.
Tensor eval_batch_norm(const Graph &graph, const Node &node, const Tensor &src,
                       const WeightSource &weights) {
    expect_shape(src.shape, node.shape, node, "the input");
    double epsilon = node.attr<BatchNormAttrs>().epsilon;
    const float *scale = fetch_parameter(graph, node, weights, "weight").data;
    const float *shift = fetch_parameter(graph, node, weights, "bias").data;
    const float *mean = fetch_parameter(graph, node, weights, "running_mean").data;
    const float *var = fetch_parameter(graph, node, weights, "running_var").data;

    ChannelView v = channel_view(src.shape, node);
    Tensor dst(node.shape);
    for (int64_t n = 0; n < v.outer; ++n) {
        for (int64_t c = 0; c < v.channels; ++c) {
            double inv_std = 1.0 / std::sqrt(double(var[c]) + epsilon);
            int64_t base = (n * v.channels + c) * v.inner;
            for (int64_t i = base; i < base + v.inner; ++i) {
                double x = src.data[i];
                dst.data[i] = static_cast<float>((x - mean[c]) * inv_std * scale[c] + shift[c]);
            }
        }
    }
    return dst;
}

// One activation, shared by the element-wise layers and by epilogues.
float activate(Activation activation, double slope, float x) {
    switch (activation) {
    case Activation::None: return x;
    case Activation::Relu: return x < 0.0f ? 0.0f : x;
    case Activation::Relu6: return x < 0.0f ? 0.0f : (x > 6.0f ? 6.0f : x);
    case Activation::LeakyRelu: return x > 0.0f ? x : static_cast<float>(x * slope);
    case Activation::Sigmoid: return static_cast<float>(1.0 / (1.0 + std::exp(-double(x))));
    case Activation::HardSwish: {
        double relu6 = std::min(std::max(double(x) + 3.0, 0.0), 6.0);
        return static_cast<float>(x * relu6 / 6.0);
    }
    }
    throw InternalError("reference interpreter: unknown activation");
}

float apply_activation(const Node &node, float x) {
    switch (node.op) {
    case OpKind::Relu: return activate(Activation::Relu, 0.0, x);
    case OpKind::Relu6: return activate(Activation::Relu6, 0.0, x);
    case OpKind::LeakyRelu:
        return activate(Activation::LeakyRelu, node.attr<LeakyReluAttrs>().slope, x);
    case OpKind::Sigmoid: return activate(Activation::Sigmoid, 0.0, x);
    case OpKind::HardSwish: return activate(Activation::HardSwish, 0.0, x);
    case OpKind::Dropout:
    case OpKind::Identity: return x;
    default: fail(node, "is not an element-wise operator");
    }
}

Tensor eval_elementwise(const Node &node, const Tensor &src) {
    expect_shape(src.shape, node.shape, node, "the input");
    Tensor dst(node.shape);
    for (size_t i = 0; i < src.data.size(); ++i) {
        dst.data[i] = apply_activation(node, src.data[i]);
    }
    return dst;
}

// ---------------------------------------------------------------------------
// Linear and reshaping operators.
// ---------------------------------------------------------------------------

// y[n][o] = bias[o] + sum_f x[n][f] * weight[o][f]; input and output are NF.
Tensor eval_linear(const Graph &graph, const Node &node, const Tensor &src,
                   const WeightSource &weights) {
    const LinearAttrs &linear = node.attr<LinearAttrs>();
    expect(src.shape.rank() == 2 && node.shape.rank() == 2, node, "linear reads and writes NF");
    int64_t batch = src.shape.dims[0];
    int64_t in_features = src.shape.dims[1];
    expect_shape(node.shape, Shape{{batch, linear.out_features}}, node, "the output");
    const float *weight = fetch_parameter(graph, node, weights, "weight").data;
    const float *bias = fetch_optional_bias(graph, node, weights, linear.bias);

    Tensor dst(node.shape);
    for (int64_t n = 0; n < batch; ++n) {
        const float *x = src.data.data() + n * in_features;
        for (int64_t o = 0; o < linear.out_features; ++o) {
            const float *w = weight + o * in_features;
            double sum = bias ? double(bias[o]) : 0.0;
            for (int64_t f = 0; f < in_features; ++f) {
                sum += double(x[f]) * w[f];
            }
            dst.data[n * linear.out_features + o] = static_cast<float>(sum);
        }
    }
    return dst;
}

// NCHW -> N(C*H*W): row-major order already is PyTorch's flatten order.
Tensor eval_flatten(const Node &node, const Tensor &src) {
    expect(src.shape.rank() >= 2, node, "flatten needs a batch axis");
    int64_t batch = src.shape.dims[0];
    expect_shape(node.shape, Shape{{batch, src.shape.elements() / std::max<int64_t>(batch, 1)}},
                 node, "the output");
    Tensor dst(node.shape);
    dst.data = src.data;
    return dst;
}

Tensor eval_add(const Node &node, const std::vector<const Tensor *> &srcs) {
    expect(srcs.size() >= 2, node, "add needs at least two inputs");
    for (const Tensor *s : srcs) {
        expect_shape(s->shape, node.shape, node, "an input");
    }
    Tensor dst(node.shape);
    for (size_t i = 0; i < dst.data.size(); ++i) {
        double sum = 0.0;
        for (const Tensor *s : srcs) {
            sum += s->data[i];
        }
        dst.data[i] = static_cast<float>(sum);
    }
    return dst;
}

// Stacks the inputs' channels in input order, for NCHW and NF alike.
Tensor eval_concat(const Node &node, const std::vector<const Tensor *> &srcs) {
    expect(!srcs.empty(), node, "concat needs an input");
    ChannelView out = channel_view(node.shape, node);
    int64_t channels = 0;
    for (const Tensor *s : srcs) {
        expect(s->shape.rank() == node.shape.rank(), node, "inputs must have the output's rank");
        ChannelView in = channel_view(s->shape, node);
        expect(in.outer == out.outer && in.inner == out.inner, node,
               "inputs may differ only in their channel count");
        channels += in.channels;
    }
    expect(channels == out.channels, node, "the output's channels are not the inputs' sum");

    Tensor dst(node.shape);
    for (int64_t n = 0; n < out.outer; ++n) {
        float *d = dst.data.data() + n * out.channels * out.inner;
        for (const Tensor *s : srcs) {
            int64_t block = s->shape.dims[1] * out.inner;
            const float *begin = s->data.data() + n * block;
            d = std::copy(begin, begin + block, d);
        }
    }
    return dst;
}

// Part `index` of `parts` equal channel parts, as torch.chunk gives it.
Tensor eval_slice(const Node &node, const Tensor &src) {
    const SliceAttrs &slice = node.attr<SliceAttrs>();
    ChannelView in = channel_view(src.shape, node);
    expect(slice.parts >= 1 && in.channels % slice.parts == 0, node,
           "the parts must divide the channels");
    expect(0 <= slice.index && slice.index < slice.parts, node, "the part index is out of range");
    int64_t width = in.channels / slice.parts;
    int64_t begin = slice.index * width;
    Shape expected = src.shape;
    expected.dims[1] = width;
    expect_shape(node.shape, expected, node, "the output");

    Tensor dst(node.shape);
    float *d = dst.data.data();
    for (int64_t n = 0; n < in.outer; ++n) {
        const float *s = src.data.data() + (n * in.channels + begin) * in.inner;
        d = std::copy(s, s + width * in.inner, d);
    }
    return dst;
}

// PyTorch's channel_shuffle: view (N, G, C/G, H, W), swap axes 1 and 2,
// flatten back. Output channel i*G + g is input channel g*(C/G) + i.
Tensor eval_shuffle(const Node &node, const Tensor &src) {
    int64_t groups = node.attr<ShuffleAttrs>().groups;
    expect_shape(src.shape, node.shape, node, "the input");
    ChannelView v = channel_view(src.shape, node);
    expect(groups >= 1 && v.channels % groups == 0, node, "groups must divide the channels");
    int64_t per_group = v.channels / groups;

    Tensor dst(node.shape);
    for (int64_t n = 0; n < v.outer; ++n) {
        for (int64_t oc = 0; oc < v.channels; ++oc) {
            int64_t i = oc / groups;
            int64_t g = oc % groups;
            int64_t ic = g * per_group + i;
            const float *s = src.data.data() + (n * v.channels + ic) * v.inner;
            std::copy(s, s + v.inner, dst.data.data() + (n * v.channels + oc) * v.inner);
        }
    }
    return dst;
}

// ---------------------------------------------------------------------------
// Normalisations across channels.
// ---------------------------------------------------------------------------

// Softmax over dimension 1, at every other position; the maximum is
// subtracted first so that exp cannot overflow.
Tensor eval_softmax(const Node &node, const Tensor &src) {
    expect_shape(src.shape, node.shape, node, "the input");
    ChannelView v = channel_view(src.shape, node);
    Tensor dst(node.shape);
    std::vector<double> e(static_cast<size_t>(v.channels));
    for (int64_t n = 0; n < v.outer; ++n) {
        for (int64_t i = 0; i < v.inner; ++i) {
            auto at = [&](int64_t c) { return (n * v.channels + c) * v.inner + i; };
            double top = -std::numeric_limits<double>::infinity();
            for (int64_t c = 0; c < v.channels; ++c) {
                top = std::max(top, double(src.data[at(c)]));
            }
            double sum = 0.0;
            for (int64_t c = 0; c < v.channels; ++c) {
                e[c] = std::exp(double(src.data[at(c)]) - top);
                sum += e[c];
            }
            for (int64_t c = 0; c < v.channels; ++c) {
                dst.data[at(c)] = static_cast<float>(e[c] / sum);
            }
        }
    }
    return dst;
}

// PyTorch's LocalResponseNorm: b_c = a_c / (k + alpha/size * sum a_j^2)^beta,
// the sum over channels j in [c - size/2, c + (size-1)/2] clipped to the
// tensor (PyTorch zero-pads size/2 before and (size-1)/2 after, then
// averages over `size` channels, so the divisor is always `size`).
Tensor eval_lrn(const Node &node, const Tensor &src) {
    const LrnAttrs &lrn = node.attr<LrnAttrs>();
    expect_shape(src.shape, node.shape, node, "the input");
    expect(lrn.size >= 1, node, "the window size must be positive");
    ChannelView v = channel_view(src.shape, node);

    Tensor dst(node.shape);
    for (int64_t n = 0; n < v.outer; ++n) {
        for (int64_t i = 0; i < v.inner; ++i) {
            auto at = [&](int64_t c) { return (n * v.channels + c) * v.inner + i; };
            for (int64_t c = 0; c < v.channels; ++c) {
                int64_t first = std::max<int64_t>(c - lrn.size / 2, 0);
                int64_t last = std::min<int64_t>(c + (lrn.size - 1) / 2, v.channels - 1);
                double squares = 0.0;
                for (int64_t j = first; j <= last; ++j) {
                    double a = src.data[at(j)];
                    squares += a * a;
                }
                double divisor = std::pow(lrn.k + lrn.alpha / double(lrn.size) * squares, lrn.beta);
                dst.data[at(c)] = static_cast<float>(src.data[at(c)] / divisor);
            }
        }
    }
    return dst;
}

// ---------------------------------------------------------------------------
// The driver.
// ---------------------------------------------------------------------------

Tensor eval_operator(const Graph &graph, const Node &node, const std::vector<const Tensor *> &srcs,
                     const WeightSource &weights) {
    bool unary = node.op != OpKind::Add && node.op != OpKind::Concat;
    expect(!unary || srcs.size() == 1, node, "expected exactly one input");

    switch (node.op) {
    case OpKind::Conv: return eval_conv(graph, node, *srcs[0], weights);
    case OpKind::MaxPool: return eval_max_pool(node, *srcs[0]);
    case OpKind::AvgPool: return eval_avg_pool(node, *srcs[0]);
    case OpKind::GlobalAvgPool:
    case OpKind::GlobalMaxPool: return eval_global_pool(node, *srcs[0]);
    case OpKind::BatchNorm: return eval_batch_norm(graph, node, *srcs[0], weights);
    case OpKind::Relu:
    case OpKind::Relu6:
    case OpKind::LeakyRelu:
    case OpKind::Sigmoid:
    case OpKind::HardSwish:
    case OpKind::Dropout:
    case OpKind::Identity: return eval_elementwise(node, *srcs[0]);
    case OpKind::Linear: return eval_linear(graph, node, *srcs[0], weights);
    case OpKind::Flatten: return eval_flatten(node, *srcs[0]);
    case OpKind::Add: return eval_add(node, srcs);
    case OpKind::Concat: return eval_concat(node, srcs);
    case OpKind::Slice: return eval_slice(node, *srcs[0]);
    case OpKind::Shuffle: return eval_shuffle(node, *srcs[0]);
    case OpKind::Softmax: return eval_softmax(node, *srcs[0]);
    case OpKind::Lrn: return eval_lrn(node, *srcs[0]);
    case OpKind::Input: break;
    }
    fail(node, "only node 0 may be an input");
}

// The operator, then its epilogue (graph.h): out = activation(op(...) + residual).
// A residual input is not one of the operator's inputs.
Tensor eval_node(const Graph &graph, const Node &node, std::vector<const Tensor *> srcs,
                 const WeightSource &weights) {
    expect(!node.shape.dims.empty(), node, "shapes must be inferred before interpretation");
    const Tensor *residual = nullptr;
    if (node.epilogue.residual) {
        expect(srcs.size() >= 2, node, "a residual epilogue needs an input besides the operands");
        residual = srcs.back();
        srcs.pop_back();
        expect_shape(residual->shape, node.shape, node, "the residual input");
    }
    Tensor dst = eval_operator(graph, node, srcs, weights);
    if (node.epilogue.empty()) {
        return dst;
    }
    expect_shape(dst.shape, node.shape, node, "the result");
    for (size_t i = 0; i < dst.data.size(); ++i) {
        float x = residual ? dst.data[i] + residual->data[i] : dst.data[i];
        dst.data[i] = activate(node.epilogue.activation, node.epilogue.slope, x);
    }
    return dst;
}

} // namespace

Tensor run_reference(const Graph &graph, const WeightSource &weights, const Tensor &input) {
    verify_graph(graph);
    const Node &input_node = graph.input();
    expect_shape(input.shape, input_node.shape, input_node, "the network input");
    expect(input.data.size() == static_cast<size_t>(input.shape.elements()), input_node,
           "the input tensor's data does not match its shape");

    // last_use[i]: the last node that reads node i, after which i is freed.
    // The output is never freed; a node nobody reads is freed at once.
    std::vector<std::vector<NodeId>> consumers = graph.consumers();
    std::vector<NodeId> last_use(graph.nodes.size());
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
        last_use[i] = consumers[i].empty() ? static_cast<NodeId>(i) : consumers[i].back();
    }

    std::vector<Tensor> values(graph.nodes.size());
    values[0] = input;
    for (const Node &node : graph.nodes) {
        if (node.id != 0) {
            std::vector<const Tensor *> srcs;
            for (NodeId in : node.inputs) {
                srcs.push_back(&values[in]);
            }
            values[node.id] = eval_node(graph, node, srcs, weights);
            expect_shape(values[node.id].shape, node.shape, node, "the result");
        }
        for (NodeId in : node.inputs) {
            if (last_use[in] == node.id && in != graph.output) {
                values[in] = Tensor();
            }
        }
        if (last_use[node.id] == node.id && node.id != graph.output) {
            values[node.id] = Tensor();
        }
    }
    return std::move(values[graph.output]);
}

} // namespace strata
