/* eip_dsp_mbqm (kernels/arm_dsp/requantize.h) against eip_mbqm (kernels/fixedpoint.h): every shift the
 * params allow (-31..31, pre-shifts that wrap included), the int32 extremes, and N random operands.
 * Prints mismatches; exit 1 if any. */
#include <stdio.h>
#include <stdlib.h>

#include "fixedpoint.h"
#include "arm_dsp/requantize.h"

static uint64_t state = 0x9E3779B97F4A7C15u;

static uint32_t next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (uint32_t)(state >> 16);
}

static int check(int32_t x, int32_t m, int32_t s, long *bad)
{
    /* pre-shifts that overflow are included: both must wrap as TFLM does */
    int32_t want = eip_mbqm(x, m, s);
    int32_t got = eip_dsp_mbqm(x, m, s);
    if (want != got) {
        if (*bad < 10) {
            printf("x=%ld m=%ld s=%ld: ref %ld dsp %ld\n", (long)x, (long)m, (long)s, (long)want, (long)got);
        }
        (*bad)++;
    }
    return 1;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    long bad = 0, cases = 0;
    const int32_t extremes[] = {INT32_MIN, INT32_MIN + 1, -65536, -255, -2, -1, 0, 1, 2, 255, 65535, INT32_MAX};
    const int32_t mults[] = {INT32_MIN, -1073741824, 0, 1, 1073741824, 1518500250, INT32_MAX};
    for (int32_t s = -31; s <= 31; s++) {
        for (size_t i = 0; i < sizeof extremes / sizeof extremes[0]; i++) {
            for (size_t j = 0; j < sizeof mults / sizeof mults[0]; j++) {
                cases += check(extremes[i], mults[j], s, &bad);
            }
        }
    }
    for (long k = 0; k < n; k++) {
        int32_t x = (int32_t)next();
        if (k % 2) {
            x >>= next() % 31; /* small accumulators are the common case */
        }
        int32_t m = (int32_t)(next() | 0x40000000u) >> (next() % 2); /* Q0.31 in [2^30, 2^31) or halved */
        int32_t s = (int32_t)(next() % 63) - 31;
        cases += check(x, (next() % 8) ? m : (int32_t)next(), s, &bad);
    }
    printf("%ld cases, %ld mismatches\n", cases, bad);
    return bad != 0;
}
