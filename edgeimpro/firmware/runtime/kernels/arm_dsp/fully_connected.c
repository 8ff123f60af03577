/*
 * FULLY_CONNECTED, int8, Arm DSP variant: same arithmetic as ../fully_connected.c (bit-exact).
 *
 * SXTAB16 turns four input bytes into x - in_zp for elements (0, 2) and (1, 3) and four weight bytes into
 * w - weights_zp the same way (all fit int16), so two SMLADs add four products. Two units share each
 * input load.
 */
#include "eip_kernels.h"
#include "../mac_params.h"
#include "../fixedpoint.h"
#include "../kernel_paths.h"
#include "requantize.h"
#include "simd.h"

static inline int8_t requantize(const eip_fully_connected_params_t *p, int32_t acc, const int32_t *bias, int32_t o)
{
    if (bias != 0) {
        acc = eip_add_wrap(acc, bias[o]);
    }
    return eip_dsp_requantize_built(EIP_MODEL_FULLY_CONNECTED_REQUANTS, p->requant, acc, p->multiplier[o],
                                    p->shift[o], p->out_zp, p->act_min, p->act_max);
}

/* acc[0], acc[1]: the dot products of x with weight rows w0 and w1 (both zero points applied). */
static void dot_2(const eip_fully_connected_params_t *p, const int8_t *x, const int8_t *w0, const int8_t *w1,
                  int32_t acc[2])
{
    const int32_t minus_in_zp = eip_pair16(-p->in_zp), minus_w_zp = eip_pair16(-p->weights_zp);
    int32_t a0 = 0, a1 = 0;
    for (int32_t q = p->depth >> 2; q > 0; --q) {
        const int32_t xv = eip_load_s8x4(x);
        x += 4;
        const int32_t x02 = __sxtab16(minus_in_zp, xv), x13 = eip_sxtab16_odd(minus_in_zp, xv);
        int32_t w = eip_load_s8x4(w0);
        w0 += 4;
        a0 = __smlad(__sxtab16(minus_w_zp, w), x02, a0);
        a0 = __smlad(eip_sxtab16_odd(minus_w_zp, w), x13, a0);
        w = eip_load_s8x4(w1);
        w1 += 4;
        a1 = __smlad(__sxtab16(minus_w_zp, w), x02, a1);
        a1 = __smlad(eip_sxtab16_odd(minus_w_zp, w), x13, a1);
    }
    for (int32_t r = p->depth & 3; r > 0; --r) {
        const int32_t xv = (int32_t)*x++ - p->in_zp;
        a0 = eip_add_wrap(a0, ((int32_t)*w0++ - p->weights_zp) * xv);
        a1 = eip_add_wrap(a1, ((int32_t)*w1++ - p->weights_zp) * xv);
    }
    acc[0] = a0;
    acc[1] = a1;
}

eip_status_t eip_fully_connected(const eip_fully_connected_params_t *p, const int8_t *input,
                                 const int8_t *weights, const int32_t *bias, int8_t *output)
{
    const eip_status_t status = eip_fully_connected_check(p, input, weights, output);
    if (status != EIP_OK) {
        return status;
    }
    if (!EIP_REQUANT_BUILT(EIP_MODEL_FULLY_CONNECTED_REQUANTS, p->requant)) {
        return EIP_ERR_BAD_PARAM;   /* generated for another model (kernel_paths.h) */
    }
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * p->depth;
        int8_t *out = output + b * p->units;
        /* Units two at a time; a last odd unit is paired with itself. */
        for (int32_t o = 0; o < p->units; o += 2) {
            const int32_t o1 = o + 1 < p->units ? o + 1 : o;
            int32_t acc[2];
            dot_2(p, x, weights + o * p->depth, weights + o1 * p->depth, acc);
            out[o] = requantize(p, acc[0], bias, o);
            out[o1] = requantize(p, acc[1], bias, o1);
        }
    }
    return EIP_OK;
}
