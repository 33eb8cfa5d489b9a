#include "peak_flops.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace strata {

namespace {

// Twelve independent accumulators hide the FMA latency (4 cycles) on both
// FMA ports; the loop body is nothing but FMAs on registers.
constexpr int kChains = 12;
constexpr long kIterations = 1 << 20;

#if defined(__x86_64__)
__attribute__((target("avx512f"))) float fma_chains_avx512(long iterations) {
    __m512 acc[kChains];
    for (int i = 0; i < kChains; ++i) {
        acc[i] = _mm512_set1_ps(static_cast<float>(i));
    }
    const __m512 a = _mm512_set1_ps(0.999999f);
    const __m512 b = _mm512_set1_ps(1e-7f);
    for (long n = 0; n < iterations; ++n) {
        for (int i = 0; i < kChains; ++i) {
            acc[i] = _mm512_fmadd_ps(acc[i], a, b);
        }
    }
    float out[16];
    __m512 sum = acc[0];
    for (int i = 1; i < kChains; ++i) {
        sum = _mm512_add_ps(sum, acc[i]);
    }
    _mm512_storeu_ps(out, sum);
    return out[0];
}

__attribute__((target("avx2,fma"))) float fma_chains_avx2(long iterations) {
    __m256 acc[kChains];
    for (int i = 0; i < kChains; ++i) {
        acc[i] = _mm256_set1_ps(static_cast<float>(i));
    }
    const __m256 a = _mm256_set1_ps(0.999999f);
    const __m256 b = _mm256_set1_ps(1e-7f);
    for (long n = 0; n < iterations; ++n) {
        for (int i = 0; i < kChains; ++i) {
            acc[i] = _mm256_fmadd_ps(acc[i], a, b);
        }
    }
    float out[8];
    __m256 sum = acc[0];
    for (int i = 1; i < kChains; ++i) {
        sum = _mm256_add_ps(sum, acc[i]);
    }
    _mm256_storeu_ps(out, sum);
    return out[0];
}
#endif

// The conv tile's inner loop (schedules/cpu_schedules.h, ConvCpuSchedule):
// `kBlocks` weight vectors by `pixels` broadcast inputs, repeated over
// kTileChannels input channels. The weights of a channel are kBlocks
// vectors kTileChannels vectors apart, the pixels kTileChannels floats
// apart, as in the packed weights and channels-innermost maps: 40 KiB in
// all on AVX-512, within L1.
constexpr int kBlocks = 2;
constexpr int kTileChannels = 256;

template <int Pixels>
__attribute__((target("avx512f"))) float tile_avx512(const float *weights, const float *inputs,
                                                     long repeats) {
    __m512 acc[kBlocks * Pixels];
    for (__m512 &a : acc) {
        a = _mm512_setzero_ps();
    }
    for (long n = 0; n < repeats; ++n) {
        for (int ci = 0; ci < kTileChannels; ++ci) {
            __m512 w[kBlocks];
            for (int b = 0; b < kBlocks; ++b) {
                w[b] = _mm512_loadu_ps(weights + (b * kTileChannels + ci) * 16);
            }
            for (int p = 0; p < Pixels; ++p) {
                __m512 x = _mm512_set1_ps(inputs[p * kTileChannels + ci]);
                for (int b = 0; b < kBlocks; ++b) {
                    acc[p * kBlocks + b] = _mm512_fmadd_ps(w[b], x, acc[p * kBlocks + b]);
                }
            }
        }
    }
    __m512 sum = acc[0];
    for (int i = 1; i < kBlocks * Pixels; ++i) {
        sum = _mm512_add_ps(sum, acc[i]);
    }
    float out[16];
    _mm512_storeu_ps(out, sum);
    return out[0];
}

template <int Pixels>
__attribute__((target("avx2,fma"))) float tile_avx2(const float *weights, const float *inputs,
                                                    long repeats) {
    __m256 acc[kBlocks * Pixels];
    for (__m256 &a : acc) {
        a = _mm256_setzero_ps();
    }
    for (long n = 0; n < repeats; ++n) {
        for (int ci = 0; ci < kTileChannels; ++ci) {
            __m256 w[kBlocks];
            for (int b = 0; b < kBlocks; ++b) {
                w[b] = _mm256_loadu_ps(weights + (b * kTileChannels + ci) * 8);
            }
            for (int p = 0; p < Pixels; ++p) {
                __m256 x = _mm256_set1_ps(inputs[p * kTileChannels + ci]);
                for (int b = 0; b < kBlocks; ++b) {
                    acc[p * kBlocks + b] = _mm256_fmadd_ps(w[b], x, acc[p * kBlocks + b]);
                }
            }
        }
    }
    __m256 sum = acc[0];
    for (int i = 1; i < kBlocks * Pixels; ++i) {
        sum = _mm256_add_ps(sum, acc[i]);
    }
    float out[8];
    _mm256_storeu_ps(out, sum);
    return out[0];
}

// The result is stored so that the compiler cannot drop the work.
std::atomic<float> sink{0};

} // namespace

double measure_read_bandwidth(int threads, int64_t bytes) {
    threads = std::max(1, threads);
    size_t count = static_cast<size_t>(bytes) / sizeof(float);
    std::vector<float> data(count, 1.0f); // written once, so every page is real
    double best = 0;
    for (int round = 0; round < 3; ++round) {
        auto start = std::chrono::steady_clock::now();
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t) {
            pool.emplace_back([&, t] {
                size_t begin = count / threads * t;
                size_t end = t + 1 == threads ? count : count / threads * (t + 1);
                // Eight partial sums let the compiler vectorise the loop.
                float partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                for (size_t i = begin; i + 8 <= end; i += 8) {
                    for (int k = 0; k < 8; ++k) {
                        partial[k] += data[i + k];
                    }
                }
                float sum = 0;
                for (float p : partial) {
                    sum += p;
                }
                sink.store(sum);
            });
        }
        for (std::thread &t : pool) {
            t.join();
        }
        double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        best = std::max(best, static_cast<double>(bytes) / seconds / 1e9);
    }
    return best;
}

PeakFlops measure_peak_flops(int threads, double seconds) {
    PeakFlops peak;
    peak.threads = std::max(1, threads);
#if defined(__x86_64__)
    float (*kernel)(long) = nullptr;
    if (__builtin_cpu_supports("avx512f")) {
        kernel = fma_chains_avx512;
        peak.vector_floats = 16;
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        kernel = fma_chains_avx2;
        peak.vector_floats = 8;
    }
    if (!kernel) {
        return peak;
    }
    // Best GFLOP/s of three rounds of `run(iterations)` on every thread, each
    // round about `seconds` long, sized from a calibration run of `start`
    // iterations of `fmas` FMAs each.
    auto best_gflops = [&](auto run, long start, double fmas) {
        auto time_of = [&](long iterations) {
            auto begin = std::chrono::steady_clock::now();
            std::vector<std::thread> pool;
            for (int t = 0; t < peak.threads; ++t) {
                pool.emplace_back([&] { sink.store(run(iterations)); });
            }
            for (std::thread &t : pool) {
                t.join();
            }
            return std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
        };
        double calibration = time_of(start);
        long iterations = std::max<long>(start, static_cast<long>(start * seconds / calibration));
        double best = 0;
        for (int round = 0; round < 3; ++round) {
            double elapsed = time_of(iterations);
            double flops = 2.0 * peak.vector_floats * fmas * static_cast<double>(iterations);
            best = std::max(best, flops * peak.threads / elapsed / 1e9);
        }
        return best;
    };
    const long calibration_fmas = kIterations / 16 * kChains;
    peak.gflops = best_gflops(kernel, calibration_fmas / kChains, kChains);

    // Every thread reads the same small arrays: they stay in each core's L1.
    const int pixels = peak.vector_floats == 16 ? 7 : 6;
    const double tile_fmas = double(kBlocks) * pixels * kTileChannels;
    std::vector<float> weights(size_t{kBlocks} * kTileChannels * peak.vector_floats, 1e-3f);
    std::vector<float> inputs(size_t(pixels) * kTileChannels, 1e-3f);
    auto tile = [&](long repeats) {
        return peak.vector_floats == 16 ? tile_avx512<7>(weights.data(), inputs.data(), repeats)
                                        : tile_avx2<6>(weights.data(), inputs.data(), repeats);
    };
    peak.tile_gflops =
        best_gflops(tile, std::max<long>(1, long(calibration_fmas / tile_fmas)), tile_fmas);
#else
    (void)seconds;
#endif
    return peak;
}

} // namespace strata
