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
    // Size one round to about `seconds` from a short calibration run.
    auto time_of = [&](long iterations) {
        auto start = std::chrono::steady_clock::now();
        std::vector<std::thread> pool;
        for (int t = 0; t < peak.threads; ++t) {
            pool.emplace_back([&] { sink.store(kernel(iterations)); });
        }
        for (std::thread &t : pool) {
            t.join();
        }
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    double calibration = time_of(kIterations / 16);
    long iterations = std::max<long>(kIterations / 16,
                                     static_cast<long>(kIterations / 16 * seconds / calibration));
    for (int round = 0; round < 3; ++round) {
        double elapsed = time_of(iterations);
        double flops =
            2.0 * peak.vector_floats * kChains * static_cast<double>(iterations) * peak.threads;
        peak.gflops = std::max(peak.gflops, flops / elapsed / 1e9);
    }
#else
    (void)seconds;
#endif
    return peak;
}

} // namespace strata
