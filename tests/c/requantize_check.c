/* eip_dsp_mbqm (kernels/arm_dsp/requantize.h) against eip_mbqm (kernels/fixedpoint.h): every shift the
 * params allow (-31..31, pre-shifts that wrap included), the int32 extremes, and N random operands; and
 * each requantization kind the generator may choose (eip_dsp_mbqm_built, every kind built) on the
 * operands it chooses it for: NO_PRESHIFT on every shift <= 0 and multiplier >= 0, SMMULR there too with
 * |acc| < 2^30 (its C definition here; the SMMULR instruction runs in the kernel suite on the emulated
 * boards).
 * Prints mismatches; exit 1 if any. */
#include <stdio.h>
#include <stdlib.h>

#include "fixedpoint.h"
#include "arm_dsp/requantize.h"
#include "xorshift.h"


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

/* The kinds the generator may pick for (x, m, s), each against eip_mbqm. */
static void check_kinds(int32_t x, int32_t m, int32_t s, long *bad, long *cases)
{
    if (s > 0 || m < 0) {
        return;
    }
    const int32_t want = eip_mbqm(x, m, s);
    const int small = x >= -(1 << 30) && x < (1 << 30);
    for (int32_t kind = EIP_REQUANT_NO_PRESHIFT; kind <= (small ? EIP_REQUANT_SMMULR : EIP_REQUANT_NO_PRESHIFT);
         ++kind) {
        const int32_t got = eip_dsp_mbqm_built(7, kind, x, m, s);
        (*cases)++;
        if (got != want) {
            if (*bad < 10) {
                printf("kind %ld x=%ld m=%ld s=%ld: ref %ld dsp %ld\n", (long)kind, (long)x, (long)m, (long)s,
                       (long)want, (long)got);
            }
            (*bad)++;
        }
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    long bad = 0, cases = 0;
    const int32_t extremes[] = {INT32_MIN, INT32_MIN + 1, -(1 << 30) - 1, -(1 << 30), -65536, -255, -2, -1, 0,
                                1, 2, 255, 65535, (1 << 30) - 1, 1 << 30, INT32_MAX};
    const int32_t mults[] = {INT32_MIN, -1073741824, 0, 1, 1073741824, 1518500250, INT32_MAX};
    for (int32_t s = -31; s <= 31; s++) {
        for (size_t i = 0; i < sizeof extremes / sizeof extremes[0]; i++) {
            for (size_t j = 0; j < sizeof mults / sizeof mults[0]; j++) {
                cases += check(extremes[i], mults[j], s, &bad);
                check_kinds(extremes[i], mults[j], s, &bad, &cases);
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
        const int32_t mm = (next() % 8) ? m : (int32_t)next();
        cases += check(x, mm, s, &bad);
        check_kinds(x, mm, s, &bad, &cases);
        /* the SMMULR kind's edge: accumulators next to +-2^30, every right shift */
        const int32_t edge = (int32_t)(next() % 64) - 32;
        const int32_t inward = k % 4 < 2 ? 0 : edge * (edge < 0 ? -1 : 1);   /* 0..32 inside the domain */
        check_kinds(k % 2 ? (1 << 30) - 1 - inward : -(1 << 30) + inward, mm, -(int32_t)(next() % 32), &bad,
                    &cases);
    }
    printf("%ld cases, %ld mismatches\n", cases, bad);
    return bad != 0;
}
