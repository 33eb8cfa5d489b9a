/*
 * run_network: the test harness of a compiled network. Links a library made
 * with `strata compile --name net`, runs it on a float32 input file and
 * writes the output as float32. With REPEATS, it runs the network that many
 * times more, alternating between THREADS and one thread, and fails unless
 * every output equals the first bit for bit: the kernels are deterministic,
 * so a difference (or a hang) is a race between the threads. After each run
 * on one thread the process must have no thread but its own: lowering the
 * count takes effect even once the pool has started more (Linux only).
 *
 * usage: run_network INPUT.f32 OUTPUT.f32 [THREADS [REPEATS]]
 */
#define _DEFAULT_SOURCE /* dirent.h under -std=c99 */
#include "net.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The threads of this process, or -1 where /proc does not say. */
static int count_threads(void) {
    DIR *tasks = opendir("/proc/self/task");
    if (!tasks) {
        return -1;
    }
    int count = 0;
    for (struct dirent *entry; (entry = readdir(tasks)) != NULL;) {
        count += entry->d_name[0] != '.';
    }
    closedir(tasks);
    return count;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: run_network INPUT.f32 OUTPUT.f32 [THREADS [REPEATS]]\n");
        return 2;
    }
    static float input[NET_INPUT_ELEMENTS];
    static float output[NET_OUTPUT_ELEMENTS];
    FILE *in = fopen(argv[1], "rb");
    if (!in || fread(input, sizeof(float), NET_INPUT_ELEMENTS, in) != NET_INPUT_ELEMENTS) {
        fprintf(stderr, "run_network: cannot read %d floats from %s\n", NET_INPUT_ELEMENTS,
                argv[1]);
        return 1;
    }
    fclose(in);
    const int threads = argc > 3 ? atoi(argv[3]) : 0;
    const int repeats = argc > 4 ? atoi(argv[4]) : 0;
    net_set_num_threads(threads);
    int code = net_run(input, output);
    if (code != 0) {
        fprintf(stderr, "run_network: net_run returned %d: %s\n", code, net_last_error());
        return 1;
    }
    static float again[NET_OUTPUT_ELEMENTS];
    for (int i = 0; i < repeats; ++i) {
        const int run_threads = i % 2 == 0 ? threads : 1;
        net_set_num_threads(run_threads);
        code = net_run(input, again);
        if (code != 0 || memcmp(output, again, sizeof output) != 0) {
            fprintf(stderr, "run_network: run %d of %d (%d threads) %s\n", i + 2, repeats + 1,
                    run_threads, code != 0 ? net_last_error() : "differs from the first");
            return 1;
        }
        const int running = count_threads();
        if (run_threads == 1 && running > 1) {
            fprintf(stderr, "run_network: run %d of %d was to use one thread, and %d are left\n",
                    i + 2, repeats + 1, running);
            return 1;
        }
    }
    FILE *out = fopen(argv[2], "wb");
    if (!out || fwrite(output, sizeof(float), NET_OUTPUT_ELEMENTS, out) != NET_OUTPUT_ELEMENTS) {
        fprintf(stderr, "run_network: cannot write %s\n", argv[2]);
        return 1;
    }
    fclose(out);
    return 0;
}
