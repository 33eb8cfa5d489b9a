/*
 * run_network: the test harness of a compiled network. Links a library made
 * with `strata compile --name net`, runs it on a float32 input file and
 * writes the output as float32.
 *
 * usage: run_network INPUT.f32 OUTPUT.f32 [THREADS]
 */
#include "net.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: run_network INPUT.f32 OUTPUT.f32 [THREADS]\n");
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
    if (argc > 3) {
        net_set_num_threads(atoi(argv[3]));
    }
    int code = net_run(input, output);
    if (code != 0) {
        fprintf(stderr, "run_network: net_run returned %d: %s\n", code, net_last_error());
        return 1;
    }
    FILE *out = fopen(argv[2], "wb");
    if (!out || fwrite(output, sizeof(float), NET_OUTPUT_ELEMENTS, out) != NET_OUTPUT_ELEMENTS) {
        fprintf(stderr, "run_network: cannot write %s\n", argv[2]);
        return 1;
    }
    fclose(out);
    return 0;
}
