/*
 * FULLY_CONNECTED, int8, Helium (MVE) variant: same arithmetic as ../fully_connected.c (bit-exact).
 *
 * Sum (w - w_zp)(x - in_zp) = Sum w x - in_zp Sum w - w_zp Sum x + depth in_zp w_zp, every term in wrapping
 * int32 (equal modulo 2^32 to the reference's sum): VMLADAVA.S8 adds 16 raw products, VADDVA.S8 the row's
 * sum from the chunk already loaded; Sum x once per batch. Two units share each input load; a last odd unit
 * pairs with itself. The units are few in the models this serves: each is requantized on its own.
 */
#include <arm_mve.h>

#include "eip_kernels.h"
#include "../mac_params.h"
#include "../fixedpoint.h"
#include "requantize.h"

/* acc[i] = Sum w_i x, wsum[i] = Sum w_i, for rows w0 and w1 of length n. */
static void dot_2(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t acc[2], int32_t wsum[2])
{
    int32_t a0 = 0, a1 = 0, s0 = 0, s1 = 0;
    for (; n > 0; n -= 16) {
        const mve_pred16_t lanes = vctp8q((uint32_t)n);
        const int8x16_t xv = vldrbq_z_s8(x, lanes);
        const int8x16_t v0 = vldrbq_z_s8(w0, lanes), v1 = vldrbq_z_s8(w1, lanes);
        a0 = vmladavaq_s8(a0, xv, v0);
        a1 = vmladavaq_s8(a1, xv, v1);
        s0 = vaddvaq_s8(s0, v0);
        s1 = vaddvaq_s8(s1, v1);
        x += 16;
        w0 += 16;
        w1 += 16;
    }
    acc[0] = a0;
    acc[1] = a1;
    wsum[0] = s0;
    wsum[1] = s1;
}

static int32_t sum_codes(const int8_t *x, int32_t n)
{
    int32_t s = 0;
    for (; n > 0; n -= 16) {
        s = vaddvaq_s8(s, vldrbq_z_s8(x, vctp8q((uint32_t)n)));
        x += 16;
    }
    return s;
}

eip_status_t eip_fully_connected(const eip_fully_connected_params_t *p, const int8_t *input,
                                 const int8_t *weights, const int32_t *bias, int8_t *output)
{
    const eip_status_t status = eip_fully_connected_check(p, input, weights, output);
    if (status != EIP_OK) {
        return status;
    }
    const uint32_t in_zp = (uint32_t)p->in_zp, w_zp = (uint32_t)p->weights_zp;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * p->depth;
        int8_t *out = output + b * p->units;
        /* the terms every unit shares: depth in_zp w_zp - w_zp Sum x */
        const uint32_t shared = (uint32_t)p->depth * in_zp * w_zp - w_zp * (uint32_t)sum_codes(x, p->depth);
        for (int32_t o = 0; o < p->units; o += 2) {
            const int32_t o1 = o + 1 < p->units ? o + 1 : o;
            int32_t acc[2], wsum[2];
            dot_2(x, weights + o * p->depth, weights + o1 * p->depth, p->depth, acc, wsum);
            for (int32_t i = 0; i < 2; ++i) {
                const int32_t unit = i == 0 ? o : o1;
                uint32_t sum = (uint32_t)acc[i] - in_zp * (uint32_t)wsum[i] + shared;
                if (bias != 0) {
                    sum += (uint32_t)bias[unit];
                }
                out[unit] = eip_requantize((int32_t)sum, p->multiplier[unit], p->shift[unit], p->out_zp, p->act_min,
                                           p->act_max);
            }
        }
    }
    return EIP_OK;
}
