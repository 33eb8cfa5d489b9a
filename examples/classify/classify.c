/*
 * classify: runs ResNet-18, compiled by strata_add_network, on one image and
 * prints the five most likely ImageNet classes and the latency.
 *
 * usage: classify [IMAGE.f32 [LABELS.txt]]
 *   IMAGE.f32   3x224x224 float32 values, NCHW, already normalised; without
 *               it a synthetic gradient image is used
 *   LABELS.txt  one class name per line, 1000 lines
 */
#include "resnet18.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOP 5
#define RUNS 10

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int load_image(const char *path, float *image) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "classify: cannot open %s\n", path);
        return 0;
    }
    size_t read = fread(image, sizeof(float), RESNET18_INPUT_ELEMENTS, f);
    fclose(f);
    if (read != RESNET18_INPUT_ELEMENTS) {
        fprintf(stderr, "classify: %s holds %zu floats, the network needs %d\n", path, read,
                RESNET18_INPUT_ELEMENTS);
        return 0;
    }
    return 1;
}

static void synthetic_image(float *image) {
    for (int i = 0; i < RESNET18_INPUT_ELEMENTS; i++) {
        image[i] = (float)sin(i * 0.001) * 0.5f;
    }
}

/* Reads up to `count` names, one a line; returns how many it read. */
static int load_labels(const char *path, char names[][64], int count) {
    FILE *f = fopen(path, "r");
    int n = 0;
    if (!f) {
        return 0;
    }
    while (n < count && fgets(names[n], 64, f)) {
        names[n][strcspn(names[n], "\n")] = '\0';
        n++;
    }
    fclose(f);
    return n;
}

int main(int argc, char **argv) {
    static float image[RESNET18_INPUT_ELEMENTS];
    static float scores[RESNET18_OUTPUT_ELEMENTS];
    static char labels[RESNET18_OUTPUT_ELEMENTS][64];
    double times[RUNS];

    if (argc > 1) {
        if (!load_image(argv[1], image)) {
            return 1;
        }
        printf("input: %s\n", argv[1]);
    } else {
        synthetic_image(image);
        printf("input: a synthetic gradient image (pass a 3x224x224 float32 file to classify "
               "your own)\n");
    }
    int labelled = argc > 2 ? load_labels(argv[2], labels, RESNET18_OUTPUT_ELEMENTS) : 0;
    if (RESNET18_RANDOM_WEIGHTS) {
        printf("weights: RANDOM (He initialisation, the compiler's default); the classes below "
               "mean nothing.\n         Compile with WEIGHTS to classify for real.\n");
    }

    for (int r = 0; r < RUNS; r++) {
        double start = now_ms();
        int code = resnet18_run(image, scores);
        times[r] = now_ms() - start;
        if (code != 0) {
            fprintf(stderr, "classify: resnet18_run failed (%d): %s\n", code,
                    resnet18_last_error());
            return 1;
        }
    }
    qsort(times, RUNS, sizeof(double), compare_doubles);

    /* Softmax over the logits, then the five largest. */
    double max = scores[0], sum = 0;
    for (int i = 1; i < RESNET18_OUTPUT_ELEMENTS; i++) {
        max = scores[i] > max ? scores[i] : max;
    }
    for (int i = 0; i < RESNET18_OUTPUT_ELEMENTS; i++) {
        sum += exp(scores[i] - max);
    }
    int taken[RESNET18_OUTPUT_ELEMENTS] = {0};
    printf("top %d:\n", TOP);
    for (int k = 0; k < TOP; k++) {
        int best = -1;
        for (int i = 0; i < RESNET18_OUTPUT_ELEMENTS; i++) {
            if (!taken[i] && (best < 0 || scores[i] > scores[best])) {
                best = i;
            }
        }
        taken[best] = 1;
        printf("  %4d  %6.2f%%  %s\n", best, 100.0 * exp(scores[best] - max) / sum,
               best < labelled ? labels[best] : "");
    }
    printf("latency: median %.2f ms over %d runs (min %.2f, max %.2f)\n", times[RUNS / 2], RUNS,
           times[0], times[RUNS - 1]);
    return 0;
}
