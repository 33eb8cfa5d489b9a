#include "tiny.h"

#include <stdio.h>

int main(void) {
    float input[TINY_INPUT_ELEMENTS] = {0};
    float output[TINY_OUTPUT_ELEMENTS];
    int code = tiny_run(input, output);
    printf("tiny_run: %d, output %g %g\n", code, output[0], output[1]);
    return code;
}
