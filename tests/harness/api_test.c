/*
 * api_test: the generated C API's contract, checked from C (and, compiled as
 * C++, from C++). Links a library made with `strata compile --name net`.
 * Prints "N passed, M failed" and exits non-zero on any failure.
 */
#include "net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

#define CHECK(condition)                                                                           \
    do {                                                                                           \
        if (condition) {                                                                           \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            printf("FAIL line %d: %s (last error: '%s')\n", __LINE__, #condition,                  \
                   net_last_error());                                                              \
        }                                                                                          \
    } while (0)

static float max_difference(const float *a, const float *b, int n) {
    float worst = 0;
    for (int i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        worst = d > worst ? d : worst;
    }
    return worst;
}

int main(void) {
    static float input[NET_INPUT_ELEMENTS];
    static float expected[NET_OUTPUT_ELEMENTS];
    static float output[NET_OUTPUT_ELEMENTS];
    static const int input_shape[NET_INPUT_RANK] = NET_INPUT_SHAPE;
    static const int output_shape[NET_OUTPUT_RANK] = NET_OUTPUT_SHAPE;
    long elements = 1;
    for (int i = 0; i < NET_INPUT_RANK; i++) {
        elements *= input_shape[i];
    }
    CHECK(elements == NET_INPUT_ELEMENTS && input_shape[0] == 1 && output_shape[0] == 1);
    for (int i = 0; i < NET_INPUT_ELEMENTS; i++) {
        input[i] = (float)sin(i * 0.37);
    }

    /* A plain run succeeds and leaves no error. */
    CHECK(net_run(input, expected) == 0);
    CHECK(strcmp(net_last_error(), "") == 0);

    /* Null pointers are refused with a message, never a crash. */
    CHECK(net_run(NULL, output) == NET_ERROR_NULL_ARGUMENT);
    CHECK(strstr(net_last_error(), "input pointer is null") != NULL);
    CHECK(net_run(input, NULL) == NET_ERROR_NULL_ARGUMENT);
    CHECK(strstr(net_last_error(), "output pointer is null") != NULL);

    /* The workspace: its size is a constant, too little is refused, and any
     * alignment of a big enough one gives the same numbers. */
    size_t bytes = net_workspace_size();
    CHECK(bytes == NET_WORKSPACE_BYTES);
    if (bytes > 0) {
        unsigned char *workspace = (unsigned char *)malloc(bytes + 1);
        CHECK(net_run_with_workspace(input, output, NULL, bytes) == NET_ERROR_NULL_ARGUMENT);
        CHECK(net_run_with_workspace(input, output, workspace, bytes - 1) ==
              NET_ERROR_WORKSPACE_TOO_SMALL);
        CHECK(strstr(net_last_error(), "workspace is smaller") != NULL);
        memset(output, 0, sizeof output);
        CHECK(net_run_with_workspace(input, output, workspace + 1, bytes) == 0);
        CHECK(max_difference(output, expected, NET_OUTPUT_ELEMENTS) == 0.0f);
        free(workspace);
    }

    /* One thread gives the same numbers as the default; a negative count is
     * refused and changes nothing. */
    net_set_num_threads(1);
    CHECK(net_set_num_threads(-1) == NET_ERROR_BAD_ARGUMENT);
    CHECK(strstr(net_last_error(), "thread count is negative") != NULL);
    CHECK(net_set_num_threads(0) == 1);
    net_set_num_threads(1);
    memset(output, 0, sizeof output);
    CHECK(net_run(input, output) == 0);
    CHECK(max_difference(output, expected, NET_OUTPUT_ELEMENTS) <= 1e-5f);
    net_set_num_threads(0);

    /* A failure is followed by a clean success. */
    CHECK(net_run(NULL, NULL) != 0);
    CHECK(net_run(input, output) == 0 && strcmp(net_last_error(), "") == 0);

    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
