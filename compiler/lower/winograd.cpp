// Winograd's minimal filtering for 3x3, stride-1 convolutions on CPUs
// (Lavin and Gray, 2015), in the F(2 x 2, 3 x 3) and F(4 x 4, 3 x 3)
// forms; see WinogradConvFuncs (schedules/kernel_funcs.h) for the
// algorithm's three stages.
//
// The filter transform U = G g G^T runs at compile time, in double, and is
// packed as (lane, ci, e, cb), lane innermost: for one position e and input
// channel, a block of output channels is one dense vector, as in the
// direct conv's layout (conv.cpp). The transforms of the input and of the
// products are sums of a few terms with small constant coefficients,
// spelled out term by term so that the loops over positions unroll into
// adds and no multiplies by 0 or 1.
#include "lower/lowering.h"
#include "schedules/cpu_schedules.h"

#include <cmath>

namespace strata {
namespace lowering {

using Halide::Expr;
using Halide::Func;

namespace {

// The transform matrices of F(m, 3), alpha = m + 2: B^T (alpha x alpha),
// G (alpha x 3), A^T (m x alpha). For m = 4, the points 0, 1, -1, 2, -2.
struct WinogradMatrices {
    std::vector<std::vector<double>> bt, g, at;
};

WinogradMatrices winograd_matrices(int m) {
    if (m == 2) {
        return {{{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}},
                {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}},
                {{1, 1, 1, 0}, {0, 1, -1, -1}}};
    }
    check_internal(m == 4, "Winograd tiles are 2 or 4 outputs wide");
    return {{{4, 0, -5, 0, 1, 0},
             {0, -4, -4, 1, 1, 0},
             {0, 4, -4, -1, 1, 0},
             {0, -2, -1, 2, 1, 0},
             {0, 2, -1, -2, 1, 0},
             {0, 4, 0, -5, 0, 1}},
            {{1.0 / 4, 0, 0},
             {-1.0 / 6, -1.0 / 6, -1.0 / 6},
             {-1.0 / 6, 1.0 / 6, -1.0 / 6},
             {1.0 / 24, 1.0 / 12, 1.0 / 6},
             {1.0 / 24, -1.0 / 12, 1.0 / 6},
             {0, 0, 1}},
            {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}}};
}

// sum_i row[i] * terms[i], without the zero terms and multiplies by +-1.
Expr weighted_sum(const std::vector<double> &row, const std::vector<Expr> &terms) {
    Expr sum;
    for (size_t i = 0; i < row.size(); ++i) {
        const double k = row[i];
        if (k == 0) {
            continue;
        }
        Expr term = k == 1 || k == -1 ? terms[i] : static_cast<float>(std::abs(k)) * terms[i];
        if (!sum.defined()) {
            sum = k < 0 ? -term : term;
        } else {
            sum = k < 0 ? sum - term : sum + term;
        }
    }
    return sum;
}

// OIHW [co][ci][3][3] -> U as (lane, ci, e, cb), e = ex + alpha * ey, zero
// past the last output channel.
WeightPacker pack_transformed_filter(const WinogradMatrices &mat, int block, int blocks) {
    return [=](const TensorView &view) {
        const int co_count = static_cast<int>(view.shape.dims[0]);
        const int ci_count = static_cast<int>(view.shape.dims[1]);
        const int alpha = static_cast<int>(mat.bt.size());
        const int positions = alpha * alpha;
        PackedWeight packed;
        packed.extents = {block, ci_count, positions, blocks};
        packed.data.assign(static_cast<size_t>(block) * ci_count * positions * blocks, 0.0f);
        for (int co = 0; co < co_count; ++co) {
            for (int ci = 0; ci < ci_count; ++ci) {
                const float *g = view.data + (static_cast<size_t>(co) * ci_count + ci) * 9;
                for (int ey = 0; ey < alpha; ++ey) {
                    for (int ex = 0; ex < alpha; ++ex) {
                        double u = 0;
                        for (int ky = 0; ky < 3; ++ky) {
                            for (int kx = 0; kx < 3; ++kx) {
                                u += mat.g[ex][kx] * mat.g[ey][ky] * g[ky * 3 + kx];
                            }
                        }
                        const int e = ex + alpha * ey;
                        size_t dst =
                            ((static_cast<size_t>(co / block) * positions + e) * ci_count + ci) *
                                block +
                            co % block;
                        packed.data[dst] = static_cast<float>(u);
                    }
                }
            }
        }
        return packed;
    };
}

} // namespace

bool winograd_applies(const KernelContext &ctx) {
    const ConvAttrs &attrs = ctx.node.attr<ConvAttrs>();
    const Window &w = attrs.window;
    return w.kernel.w == 3 && w.kernel.h == 3 && w.stride.w == 1 && w.stride.h == 1 &&
           w.dilation.w == 1 && w.dilation.h == 1 && attrs.groups == 1;
}

LoweredOp lower_winograd_conv(KernelContext &ctx, const ConvCpuSchedule &schedule, int m) {
    const ConvAttrs &attrs = ctx.node.attr<ConvAttrs>();
    const Window &w = attrs.window;
    const Shape &in = ctx.src_shape(0);
    const Shape &out = ctx.node.shape;
    const WinogradMatrices mat = winograd_matrices(m);
    const int alpha = m + 2;

    WinogradConvFuncs f;
    f.c = ctx.c;
    f.x = ctx.x;
    f.y = ctx.y;
    f.lane = Halide::Var("lane");
    f.t = Halide::Var("t");
    f.e = Halide::Var("e");
    f.cb = Halide::Var("cb");
    f.extents = halide_extents(out);
    f.sizes = winograd_sizes(m, to_int(in.dims[1]), f.extents[0], schedule.vector_width,
                             f.extents[1], f.extents[2]);
    const WinogradSizes &z = f.sizes;
    const Halide::Var &lane = f.lane, &t = f.t, &e = f.e, &cb = f.cb;

    // ---- Algorithm -------------------------------------------------------
    // V(ci, t, ex + alpha * ey) = sum_ij B^T[ex][i] B^T[ey][j] d(i, j) for
    // tile t = tx + tiles_x * ty. The sums over i (along x) are the same
    // expressions for every ey, left to LLVM to merge across the unrolled
    // positions.
    // The input's stored zero border (plan_memory.h) serves when the tiles
    // read no further than the direct windows would; otherwise, where the
    // last tile passes the end of the map, a select on each load.
    const Border stored = storage_border(ctx.graph, ctx.node.inputs[0]);
    const int reach_x = z.tiles_x * m + 2 - to_int(w.pad_begin.w) - to_int(in.dims[3]);
    const int reach_y = z.tiles_y * m + 2 - to_int(w.pad_begin.h) - to_int(in.dims[2]);
    const bool covered = border_stored(ctx) && reach_x <= stored.x && reach_y <= stored.y;
    f.padded = covered ? ctx.views[0]
                       : Halide::BoundaryConditions::constant_exterior(
                             ctx.views[0], 0.0f,
                             {Halide::Range(), {0, to_int(in.dims[3])}, {0, to_int(in.dims[2])}});
    Halide::Var ci("ci");
    const Expr x0 = (t % z.tiles_x) * m - to_int(w.pad_begin.w);
    const Expr y0 = (t / z.tiles_x) * m - to_int(w.pad_begin.h);
    std::vector<Expr> positions;
    for (int ey = 0; ey < alpha; ++ey) {
        for (int ex = 0; ex < alpha; ++ex) {
            std::vector<Expr> along_y;
            for (int j = 0; j < alpha; ++j) {
                std::vector<Expr> row;
                for (int i = 0; i < alpha; ++i) {
                    row.push_back(f.padded(ci, x0 + i, y0 + j));
                }
                along_y.push_back(weighted_sum(mat.bt[ex], row));
            }
            positions.push_back(weighted_sum(mat.bt[ey], along_y));
        }
    }
    f.transformed = Func("transformed");
    f.transformed(ci, t, e) = Halide::mux(e, positions);

    const Halide::ImageParam &weight =
        ctx.repack_weight("weight", {z.block, z.in_channels, z.positions, z.blocks},
                          pack_transformed_filter(mat, z.block, z.blocks));
    f.weight = weight;
    f.r = Halide::RDom(0, z.in_channels, "r");
    f.product = Func("product");
    f.product(lane, t, e, cb) = 0.0f;
    f.product(lane, t, e, cb) += weight(lane, f.r, e, cb) * f.transformed(f.r, t, e);
    f.products = Func("products");
    f.products(lane, t, e, cb) = f.product(lane, t, e, cb);

    // Y(ix, iy) = sum_{ex, ey} A^T[ix][ex] A^T[iy][ey] M(ex, ey); the
    // schedule unrolls x % m and y % m, which picks one term of each mux.
    const bool bias = attrs.bias;
    const int block = z.block;
    f.output = define_output(ctx, [&](const Expr &pc, const Expr &px, const Expr &py) {
        Expr tile = px / m + (py / m) * z.tiles_x;
        std::vector<Expr> rows;
        for (int iy = 0; iy < m; ++iy) {
            std::vector<Expr> cols;
            for (int ix = 0; ix < m; ++ix) {
                std::vector<Expr> along_y;
                for (int ey = 0; ey < alpha; ++ey) {
                    std::vector<Expr> row;
                    for (int ex = 0; ex < alpha; ++ex) {
                        row.push_back(f.products(pc % block, tile, ex + alpha * ey, pc / block));
                    }
                    along_y.push_back(weighted_sum(mat.at[ix], row));
                }
                cols.push_back(weighted_sum(mat.at[iy], along_y));
            }
            rows.push_back(Halide::mux(px % m, cols));
        }
        Expr value = Halide::mux(py % m, rows);
        return bias ? value + ctx.weight("bias")(pc) : value;
    });

    // ---- Schedule --------------------------------------------------------
    schedule_winograd_conv_cpu(f, schedule);
    const std::string tile = std::to_string(m) + "x" + std::to_string(m);
    return {f.output, "winograd-cpu tile=" + std::to_string(m) + " " + describe(schedule),
            "winograd F(" + tile + ",3x3)"};
}

} // namespace lowering
} // namespace strata
