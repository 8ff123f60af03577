/*
 * ADD, int8, Arm DSP variant: TFLM's arithmetic (../add_ref.h) with each of its three SRDHM steps as one
 * SMMULR of twice the operand, exact because every operand is proven below 2^30 in magnitude
 * (requantize.h): an input (x - zp) * 2^left_shift is at most 255 * 2^22 < 2^30 for every accepted
 * left_shift; when both input multipliers are at most 1/2 (shift < 0, or shift 0 with a multiplier of at
 * most 2^30; TFLM's own parameters always are: each input scale over twice the larger one) the rescaled
 * inputs are at most half that, so their sum is below 2^30 too. Other parameters and broadcasting take the
 * reference loop.
 */
#include "../add_ref.h"
#include "requantize.h"

/* Tensors of at least this many elements go through per-input tables (2 KB of stack, 512 rescales). */
#ifndef EIP_DSP_ADD_TABLE_MIN
#define EIP_DSP_ADD_TABLE_MIN 1024
#endif

/* One SRDHM-then-RDBPOT step with its constants worked out once: multiplier, right shift, 2^(right-1)
 * (0 for no shift) and whether a negative value takes the "ties away from zero" correction. */
typedef struct {
    int32_t m, right, half, neg;
} stage_t;

static stage_t stage(int32_t multiplier, int32_t shift)
{
    const stage_t st = {multiplier, -shift, (int32_t)((1u << -shift) >> 1), shift != 0};
    return st;
}

/* RDBPOT(SRDHM(a, m), right) given 2a with |a| < 2^30 (then |SMMULR(2a, m)| < 2^30 too). */
static inline int32_t rescale(const stage_t *st, int32_t twice_a)
{
    const int32_t y = eip_dsp_smmulr(twice_a, st->m);
    return (y + st->half - ((int32_t)((uint32_t)y >> 31) & st->neg)) >> st->right;
}

static int at_most_half(int32_t multiplier, int32_t shift)
{
    return multiplier >= 0 && (shift < 0 || multiplier <= (1 << 30));
}

eip_status_t eip_add(const eip_add_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const eip_status_t status = eip_add_check(p, input1, input2, output);
    if (status != EIP_OK) {
        return status;
    }
    if (p->broadcast || !at_most_half(p->in1_multiplier, p->in1_shift) ||
        !at_most_half(p->in2_multiplier, p->in2_shift)) {
        eip_add_ref(p, input1, input2, output);
        return EIP_OK;
    }
    const int32_t size = eip_dims_size(p->dims);
    const stage_t st1 = stage(p->in1_multiplier, p->in1_shift), st2 = stage(p->in2_multiplier, p->in2_shift);
    const stage_t sto = stage(p->out_multiplier, p->out_shift);
    const int32_t up = p->left_shift + 1;   /* the 2^left_shift pre-scale and SMMULR's doubling in one shift */
    const int32_t zo = p->out_zp, lo = p->act_min, hi = p->act_max;
    if (size >= EIP_DSP_ADD_TABLE_MIN) {
        /* Each input's rescaled value depends on its code alone: two 256-entry tables, then per element
         * two loads and the output step. */
        int32_t t1[256], t2[256];
        for (int32_t x = -128; x < 128; ++x) {
            t1[x + 128] = 2 * rescale(&st1, (int32_t)((uint32_t)(x - p->in1_zp) << up));
            t2[x + 128] = 2 * rescale(&st2, (int32_t)((uint32_t)(x - p->in2_zp) << up));
        }
        for (int32_t i = 0; i < size; ++i) {   /* reads element i before writing it: in place is safe */
            const int32_t out = rescale(&sto, t1[input1[i] + 128] + t2[input2[i] + 128]) + zo;
            output[i] = (int8_t)(out < lo ? lo : out > hi ? hi : out);
        }
        return EIP_OK;
    }
    for (int32_t i = 0; i < size; ++i) {
        const int32_t a1 = rescale(&st1, (int32_t)((uint32_t)(input1[i] - p->in1_zp) << up));
        const int32_t a2 = rescale(&st2, (int32_t)((uint32_t)(input2[i] - p->in2_zp) << up));
        const int32_t out = rescale(&sto, (int32_t)((uint32_t)(a1 + a2) << 1)) + zo;
        output[i] = (int8_t)(out < lo ? lo : out > hi ? hi : out);
    }
    return EIP_OK;
}
