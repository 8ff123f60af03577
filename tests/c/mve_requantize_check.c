/* The Helium requantization (kernels/arm_mve/requantize.h: eip_mve_mbqm per lane, eip_mve_mbqm_n with one
 * multiplier and shift) against eip_mbqm (kernels/fixedpoint.h), run bare metal on the emulated Cortex-M55:
 * every shift the params allow (-31..31, pre-shifts that wrap included), the int32 extremes against extreme
 * and random multipliers, and N random operands with random shifts per lane. Returns 0 when every result is
 * equal; else the board's fatal exit with the number of mismatches (capped). */
#include <stdint.h>

#include "fixedpoint.h"
#include "arm_mve/requantize.h"
#include "eip_board.h"
#include "xorshift.h"

#ifndef CHECK_RANDOM
#define CHECK_RANDOM 200000
#endif


static uint32_t bad;

void SysTick_Handler(void);
void SysTick_Handler(void) {}   /* the vector table names it; no timer runs here */

/* Four lanes of (x, m, s) through both vector forms. */
static void check4(const int32_t x[4], const int32_t m[4], const int32_t s[4])
{
    const int32_t n = 4;
    const eip_mve_quant_t q = eip_mve_quant_load(m, s, 0, vctp32q((uint32_t)n));
    int32_t got[4];
    vst1q_s32(got, eip_mve_mbqm(vld1q_s32(x), &q));
    for (int32_t i = 0; i < n; ++i) {
        bad += got[i] != eip_mbqm(x[i], m[i], s[i]);
    }
    vst1q_s32(got, eip_mve_mbqm_n(vld1q_s32(x), m[0], s[0]));
    for (int32_t i = 0; i < n; ++i) {
        bad += got[i] != eip_mbqm(x[i], m[0], s[0]);
    }
}

int main(void)
{
    static const int32_t extremes[] = {INT32_MIN, INT32_MIN + 1, -(1 << 30) - 1, -(1 << 30), -65536, -3, -2, -1, 0,
                                       1, 2, 3, 65535, (1 << 30) - 1, 1 << 30, INT32_MAX - 1, INT32_MAX};
    const int32_t count = (int32_t)(sizeof extremes / sizeof extremes[0]);
    for (int32_t s = -31; s <= 31; ++s) {
        for (int32_t i = 0; i < count; ++i) {
            for (int32_t j = 0; j + 3 < count; j += 4) {
                const int32_t x[4] = {extremes[j], extremes[j + 1], extremes[j + 2], extremes[j + 3]};
                const int32_t m[4] = {extremes[i], extremes[i], extremes[i], extremes[i]};
                const int32_t sh[4] = {s, s, s, s};
                check4(x, m, sh);
            }
            const int32_t x[4] = {extremes[i], (int32_t)next(), -extremes[i] - 1, (int32_t)next() >> (next() & 31)};
            const int32_t m[4] = {(int32_t)next(), (int32_t)next(), (int32_t)next(), (int32_t)next()};
            const int32_t sh[4] = {s, s, s, s};
            check4(x, m, sh);
        }
    }
    for (int32_t k = 0; k < CHECK_RANDOM; ++k) {
        int32_t x[4], m[4], s[4];
        for (int32_t i = 0; i < 4; ++i) {
            x[i] = (int32_t)next() >> (next() & 31);
            m[i] = (int32_t)next();
            s[i] = (int32_t)(next() % 63u) - 31;
        }
        check4(x, m, s);
    }
    if (bad != 0) {
        eip_board_fatal(bad > 250 ? 250 : bad);
    }
    return 0;
}
