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
#include "simd.h"

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

/* The output step given the two table entries' sum 2(a1 + a2), |a1 + a2| < 2^30: y = SMMULR, then
 * floor((y + 2^(right-1) - (y < 0)) / 2^right) + zo - lo as one floor shift of y + (y >> 31) + c with
 * c = 2^(right-1) + (zo - lo) 2^right, then the clamp: full (lo -128, hi 127) saturates the sum + lo to
 * 8 bits (c holds zo alone there); otherwise (hi 127, lo above -128) USAT clamps out - lo to [0, 255],
 * adding lo back gives [lo, lo + 255] and SSAT caps it at 127. */
__attribute__((always_inline)) static inline int32_t add_out(uint32_t s, int32_t m, int32_t c, int32_t right,
                                                             int32_t lo, int full)
{
    const int32_t y = eip_dsp_smmulr((int32_t)s, m);
    const int32_t v = (y + (y >> 31) + c) >> right;
    return full ? __ssat(v, 8) : __ssat((int32_t)__usat(v, 8) + lo, 8);
}

__attribute__((always_inline)) static inline void add_tables(const uint32_t *u1, const uint32_t *u2,
                                                             const int8_t *in1, const int8_t *in2, int8_t *out,
                                                             int32_t size, int32_t m, int32_t c, int32_t right,
                                                             int32_t lo, int full)
{
    const int8_t *const end4 = in1 + (size & ~3);
    while (in1 != end4) {   /* reads elements i..i+3 before writing them: in place is safe */
        const uint32_t w1 = (uint32_t)eip_load_s8x4(in1), w2 = (uint32_t)eip_load_s8x4(in2);
        in1 += 4;
        in2 += 4;
        out[0] = (int8_t)add_out(u1[w1 & 0xFFu] + u2[w2 & 0xFFu], m, c, right, lo, full);
        out[1] = (int8_t)add_out(u1[(w1 >> 8) & 0xFFu] + u2[(w2 >> 8) & 0xFFu], m, c, right, lo, full);
        out[2] = (int8_t)add_out(u1[(w1 >> 16) & 0xFFu] + u2[(w2 >> 16) & 0xFFu], m, c, right, lo, full);
        out[3] = (int8_t)add_out(u1[w1 >> 24] + u2[w2 >> 24], m, c, right, lo, full);
        out += 4;
    }
    for (int32_t k = 0; k < (size & 3); ++k) {
        out[k] = (int8_t)add_out(u1[(uint8_t)in1[k]] + u2[(uint8_t)in2[k]], m, c, right, lo, full);
    }
}

__attribute__((noinline)) static void add_tables_full(const uint32_t *u1, const uint32_t *u2, const int8_t *in1,
                                                      const int8_t *in2, int8_t *out, int32_t size, int32_t m,
                                                      int32_t c, int32_t right)
{
    add_tables(u1, u2, in1, in2, out, size, m, c, right, -128, 1);
}

__attribute__((noinline)) static void add_tables_lo(const uint32_t *u1, const uint32_t *u2, const int8_t *in1,
                                                    const int8_t *in2, int8_t *out, int32_t size, int32_t m,
                                                    int32_t c, int32_t right, int32_t lo)
{
    add_tables(u1, u2, in1, in2, out, size, m, c, right, lo, 0);
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
        int32_t t1[256], t2[256];   /* indexed by the code's byte: entry b holds the code (int8_t)b */
        for (int32_t b = 0; b < 256; ++b) {
            const int32_t x = (int32_t)(int8_t)b;
            t1[b] = 2 * rescale(&st1, (int32_t)((uint32_t)(x - p->in1_zp) << up));
            t2[b] = 2 * rescale(&st2, (int32_t)((uint32_t)(x - p->in2_zp) << up));
        }
        /* |y| < 2^30, and with 1 <= right <= 22, |zo - lo| <= 255: |y + (y >> 31) + c| < 2^31 */
        if (sto.right >= 1 && sto.right <= 22 && zo >= -128 && zo <= 127 && hi == 127) {
            const int32_t full = lo == -128, base = full ? zo : zo - lo;
            const int32_t c = sto.half + base * (1 << sto.right);
            if (full) {
                add_tables_full((const uint32_t *)t1, (const uint32_t *)t2, input1, input2, output, size, sto.m, c,
                                sto.right);
            } else {
                add_tables_lo((const uint32_t *)t1, (const uint32_t *)t2, input1, input2, output, size, sto.m, c,
                              sto.right, lo);
            }
            return EIP_OK;
        }
        for (int32_t i = 0; i < size; ++i) {   /* reads element i before writing it: in place is safe */
            const int32_t out = rescale(&sto, t1[(uint8_t)input1[i]] + t2[(uint8_t)input2[i]]) + zo;
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
