/* SOFTMAX, int8 -> int8 (INT8_SEMANTICS §3.9): gemmlowp fixed-point exp of the scaled differences
 * to the row maximum, a Q12 sum, a Newton reciprocal; output quantization (1/256, -128). */
#include "eip_kernels.h"
#include "fixedpoint.h"

/* A softmax runs once per inference on a row of logits: built for size with GCC (0.3 KiB less on a Cortex-M4
 * at -O2; KWS's 12-class row takes 120 instructions more). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("Os")
#endif

enum { EXP_INTEGER_BITS = 5, SUM_INTEGER_BITS = 12, OUTPUT_BITS = 8 };

/* exp(beta * s_in * diff) in Q0, for diff >= diff_min. */
static int32_t exp_of_diff(const eip_softmax_params_t *p, int32_t diff)
{
    const int32_t scaled = (int32_t)((int64_t)diff * ((int64_t)1 << p->input_left_shift));
    return eip_exp_on_negative(eip_srdhm(scaled, p->input_multiplier), EXP_INTEGER_BITS);
}

static int32_t count_leading_zeros(uint32_t x)
{
    int32_t n = 0;
    for (uint32_t bit = 0x80000000u; bit != 0 && (x & bit) == 0; bit >>= 1) {
        ++n;
    }
    return n;
}

eip_status_t eip_softmax(const eip_softmax_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == 0 || input == 0 || output == 0) {
        return EIP_ERR_NULL_POINTER;
    }
    if (p->rows <= 0 || p->depth <= 0) {
        return EIP_ERR_BAD_SHAPE;
    }
    if (p->input_left_shift < 0 || p->input_left_shift > 31 || p->diff_min > 0) {
        return EIP_ERR_BAD_PARAM;
    }
    for (int32_t row = 0; row < p->rows; ++row) {
        const int8_t *x = input + row * p->depth;
        int8_t *y = output + row * p->depth;

        int32_t max = INT8_MIN;
        for (int32_t i = 0; i < p->depth; ++i) {
            max = eip_max_i32(max, x[i]);
        }
        /* Q12; the row maximum alone contributes 2^19 (1.0). Summed in 64 bits: a row of 4096 or more
         * elements near the maximum would overflow int32 before the check below could refuse it. */
        int64_t sum = 0;
        for (int32_t i = 0; i < p->depth; ++i) {
            const int32_t diff = x[i] - max;
            if (diff >= p->diff_min) {
                sum += eip_rdbpot(exp_of_diff(p, diff), SUM_INTEGER_BITS);
            }
        }
        /* TFLM aborts when the sum reaches 512.0 (2^28 in Q12): its final shift would exceed 31 */
        if (sum >= ((int64_t)1 << 28)) {
            return EIP_ERR_SOFTMAX_SUM;
        }
        /* 1/sum = reciprocal(sum normalized to [1, 2)) * 2^-(SUM_INTEGER_BITS - headroom) */
        const int32_t headroom = count_leading_zeros((uint32_t)sum);
        const int32_t exponent = SUM_INTEGER_BITS - headroom;
        const int32_t final_shift = exponent + 31 - OUTPUT_BITS;
        const int32_t normalized = (int32_t)(((uint32_t)sum << headroom) - 0x80000000u);
        const int32_t reciprocal = eip_one_over_one_plus(normalized);
        for (int32_t i = 0; i < p->depth; ++i) {
            const int32_t diff = x[i] - max;
            int32_t out = INT8_MIN;
            if (diff >= p->diff_min) {
                const int32_t probability = eip_srdhm(reciprocal, exp_of_diff(p, diff));
                out = eip_clamp_i32(eip_rdbpot(probability, final_shift) + INT8_MIN, INT8_MIN, INT8_MAX);
            }
            y[i] = (int8_t)out;
        }
    }
    return EIP_OK;
}
