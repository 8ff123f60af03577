/* HARD_SWISH, int8 (INT8_SEMANTICS §3.13): x * relu6(x + 3) / 6 through an int16 pipeline. */
#include "eip_kernels.h"
#include "fixedpoint.h"

static int32_t saturate_int16(int64_t v)
{
    return (int32_t)(v > INT16_MAX ? INT16_MAX : (v < INT16_MIN ? INT16_MIN : v));
}

eip_status_t eip_hard_swish(const eip_hard_swish_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == 0 || input == 0 || output == 0) {
        return EIP_ERR_NULL_POINTER;
    }
    if (p->size <= 0) {
        return EIP_ERR_BAD_SHAPE;
    }
    if (p->output_shift > 0 || p->output_shift < -31 || p->reluish_shift < -31 || p->reluish_shift > 31 ||
        p->output_multiplier < INT16_MIN || p->output_multiplier > INT16_MAX ||
        p->reluish_multiplier < INT16_MIN || p->reluish_multiplier > INT16_MAX) {
        return EIP_ERR_BAD_PARAM;
    }
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t hires = 128 * (input[i] - p->in_zp);  /* input on a 2^7 finer grid, fits int16 */
        const int32_t preshift_output = eip_srdhm16(hires, p->output_multiplier);

        /* "reluish": x / 3 clamped to [-1, 1) in Q0.15 */
        int32_t reluish = hires;
        if (p->reluish_shift > 0) {
            reluish = saturate_int16((int64_t)reluish * ((int64_t)1 << (p->reluish_shift - 1)));
            reluish = eip_srdhm16(reluish, p->reluish_multiplier);
            reluish = saturate_int16(2 * (int64_t)reluish);
        } else {
            reluish = eip_srdhm16(reluish, p->reluish_multiplier);
            if (p->reluish_shift < 0) {
                reluish = eip_rdbpot(reluish, -p->reluish_shift);
            }
        }
        reluish = (reluish + 32768) >> 1; /* to [0, 1) as [0, 32767] */

        const int32_t product = (reluish * preshift_output) / (1 << 15); /* truncates: no rounding here */
        const int32_t out = eip_rdbpot(product, -p->output_shift) + p->out_zp;
        output[i] = (int8_t)eip_clamp_i32(out, INT8_MIN, INT8_MAX);
    }
    return EIP_OK;
}
