/* Timing helpers shared by the benchmark clients: a monotonic clock in microseconds and the
 * comparator for sorting samples before reading percentiles. */
#ifndef TESSERA_BENCH_CLOCK_H
#define TESSERA_BENCH_CLOCK_H
#include <time.h>

static inline double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static inline int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
#endif
