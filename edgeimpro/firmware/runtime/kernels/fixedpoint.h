/*
 * Fixed-point primitives of TFLM's int8 arithmetic, written from INT8_SEMANTICS.md
 * (§2 rounding and multipliers, §2.7 Q-format notation, §3.12 exp and reciprocal helpers).
 * All static inline: each kernel file includes what it needs, no symbols are exported.
 *
 * Qk: a raw int32 r read as r / 2^(31-k). Only the default ("double rounding") TFLM build is
 * reproduced.
 */
#ifndef EIP_FIXEDPOINT_H
#define EIP_FIXEDPOINT_H

#include <stdbool.h>
#include <stdint.h>

static inline int32_t eip_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t eip_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }

static inline int32_t eip_clamp_i32(int32_t v, int32_t lo, int32_t hi)
{
    return eip_min_i32(eip_max_i32(v, lo), hi);
}

/* floor(x / 2^n), 0 <= n <= 31, without relying on the implementation-defined >> of negatives. */
static inline int32_t eip_floor_shift(int32_t x, int32_t n)
{
    return x >= 0 ? (x >> n) : ~(~x >> n);
}

/* SRDHM (§2.1): a*b / 2^31 rounded to nearest, ties toward +inf; saturates only for MIN*MIN. */
static inline int32_t eip_srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : 1 - ((int64_t)1 << 30);
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* The int16 SRDHM used by HARD_SWISH: a*b / 2^15, ties toward +inf; -32768*-32768 saturates. */
static inline int32_t eip_srdhm16(int32_t a, int32_t b)
{
    if (a == INT16_MIN && b == INT16_MIN) {
        return INT16_MAX;
    }
    const int32_t ab = a * b;
    const int32_t nudge = ab >= 0 ? (1 << 14) : 1 - (1 << 14);
    return (ab + nudge) / (1 << 15);
}

/* RDBPOT (§2.2): x / 2^exponent rounded to nearest, ties away from zero; 0 <= exponent <= 31. */
static inline int32_t eip_rdbpot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return eip_floor_shift(x, exponent) + (remainder > threshold ? 1 : 0);
}

/* Two's-complement wrap-around of int32 arithmetic. TFLM adds its accumulators and pre-shifts them in plain
 * int32 and, compiled for Arm or x86, wraps when a degenerate quantization makes them overflow; reproduced
 * through uint32_t, whose arithmetic is defined modulo 2^32 (the conversion back to int32_t is modular in
 * GCC and Clang). Same instructions as the int32 forms. */
static inline int32_t eip_add_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* x * 2^n wrapped to int32, 0 <= n <= 31. */
static inline int32_t eip_shl_wrap(int32_t x, int32_t n)
{
    return (int32_t)((uint32_t)x << n);
}

/* MBQM (§2.4), double rounding: RDBPOT(SRDHM(x * 2^max(s,0), M), max(-s,0)). The pre-shift wraps like
 * TFLM's int32 multiply (measured against the tflite_micro wheel up to s = 31). */
static inline int32_t eip_mbqm(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return eip_rdbpot(eip_srdhm(eip_shl_wrap(x, left), multiplier), right);
}

/* MBQM(acc) + zero point clamped to the activation range: the output step of the requantizing kernels. The
 * zero point add wraps as TFLM's does (reachable only when the pre-shift wrapped). */
static inline int8_t eip_requantize(int32_t acc, int32_t multiplier, int32_t shift, int32_t out_zp,
                                    int32_t act_min, int32_t act_max)
{
    const int32_t out = eip_add_wrap(eip_mbqm(acc, multiplier, shift), out_zp);
    return (int8_t)eip_clamp_i32(out, act_min, act_max);
}

/* Saturating left shift by 0 <= e <= 31 (the Q_src -> Q_dst change with src > dst, §2.7). */
static inline int32_t eip_saturating_shl(int32_t r, int32_t e)
{
    const int32_t limit = (int32_t)(((int64_t)1 << (31 - e)) - 1);
    if (r > limit) {
        return INT32_MAX;
    }
    if (r < -limit) {
        return INT32_MIN;
    }
    return (int32_t)((int64_t)r * ((int64_t)1 << e));
}

/* RHS (§2.7): (a + b) / 2 rounded to nearest, ties away from zero, in 64 bits. */
static inline int32_t eip_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    const int64_t sign = sum >= 0 ? 1 : -1;
    return (int32_t)((sum + sign) / 2);
}

/* EXPQ (§3.12): exp(a) for a in [-1/4, 0), Q0 in and out; order-4 Taylor series around -1/8. */
static inline int32_t eip_exp_on_interval(int32_t a)
{
    const int32_t exp_minus_one_eighth = 1895147668;
    const int32_t one_third = 715827883;
    const int32_t x = a + (1 << 28);
    const int32_t x2 = eip_srdhm(x, x);
    const int32_t x3 = eip_srdhm(x2, x);
    const int32_t x4 = eip_srdhm(x2, x2);
    const int32_t x4_over_4 = eip_rdbpot(x4, 2);
    const int32_t poly = eip_rdbpot(eip_srdhm(x4_over_4 + x3, one_third) + x2, 1);
    return exp_minus_one_eighth + eip_srdhm(exp_minus_one_eighth, x + poly);
}

/* EXP (§3.12): exp(a) for a <= 0, a in Q(integer_bits), result in Q0. 1 <= integer_bits <= 29. */
static inline int32_t eip_exp_on_negative(int32_t a, int32_t integer_bits)
{
    /* exp(-2^j) in Q0 for j = -2 .. 4, applied for each set bit of the whole quarters of -a */
    static const int32_t exp_of_minus_pow2[7] = {
        1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242,
    };
    const int32_t fractional_bits = 31 - integer_bits;
    const int32_t quarter = (int32_t)1 << (fractional_bits - 2);
    const int32_t r = (a & (quarter - 1)) - quarter;
    int32_t result = eip_exp_on_interval(eip_saturating_shl(r, integer_bits));
    const uint32_t whole_quarters = (uint32_t)(r - a);
    for (int32_t j = -2; j <= 4 && j < integer_bits; ++j) {
        if ((whole_quarters >> (fractional_bits + j)) & 1u) {
            result = eip_srdhm(result, exp_of_minus_pow2[j + 2]);
        }
    }
    if (integer_bits > 5 && (int64_t)a < -((int64_t)1 << (36 - integer_bits))) {
        result = 0;
    }
    if (a == 0) {
        result = INT32_MAX;
    }
    return result;
}

/* NR (§3.12): 2 / (1 + x) in Q2 for a in Q0 representing x in [0, 1); three Newton steps. */
static inline int32_t eip_two_over_one_plus(int32_t a)
{
    const int32_t half_denominator = eip_rounding_half_sum(a, INT32_MAX);
    const int32_t constant_48_over_17 = 1515870810;
    const int32_t constant_neg_32_over_17 = -1010580540;
    int32_t x = constant_48_over_17 + eip_srdhm(half_denominator, constant_neg_32_over_17);
    for (int32_t i = 0; i < 3; ++i) {
        const int32_t error = (1 << 29) - eip_srdhm(half_denominator, x);
        x = x + eip_saturating_shl(eip_srdhm(x, error), 2);
    }
    return x;
}

/* RECIP (§3.12): 1 / (1 + x) in Q0. */
static inline int32_t eip_one_over_one_plus(int32_t a)
{
    return eip_saturating_shl(eip_two_over_one_plus(a), 1);
}

/* ONE_MINUS_OVER_ONE_PLUS (§3.12): (1 - x) / (1 + x) in Q0. */
static inline int32_t eip_one_minus_over_one_plus(int32_t a)
{
    return eip_saturating_shl(eip_two_over_one_plus(a) - (1 << 29), 2);
}

/* LOGISTIC_FP (§3.12): 1 / (1 + exp(-a)) in Q0, a in Q(integer_bits), a != INT32_MIN. */
static inline int32_t eip_logistic_fp(int32_t a, int32_t integer_bits)
{
    if (a == 0) {
        return 1 << 30;
    }
    const int32_t magnitude = a > 0 ? a : -a;
    const int32_t positive = eip_one_over_one_plus(eip_exp_on_negative(-magnitude, integer_bits));
    return a > 0 ? positive : INT32_MAX - positive;
}

/* TANH_FP (§3.12): tanh(a) in Q0, a in Q(integer_bits), a != INT32_MIN. The raw bits of -|a|
 * read as Q(integer_bits + 1) are -2|a|. */
static inline int32_t eip_tanh_fp(int32_t a, int32_t integer_bits)
{
    if (a == 0) {
        return 0;
    }
    const int32_t negative_magnitude = a > 0 ? -a : a;
    const int32_t t = eip_one_minus_over_one_plus(eip_exp_on_negative(negative_magnitude, integer_bits + 1));
    return a > 0 ? t : -t;
}

/* Shift of a quantized multiplier that eip_mbqm handles (TFLM's 1 << shift is undefined beyond 31). */
static inline bool eip_shift_is_valid(int32_t shift)
{
    return shift >= -31 && shift <= 31;
}

/* Clamp range that fits int8 codes. */
static inline bool eip_act_range_is_valid(int32_t act_min, int32_t act_max)
{
    return act_min >= INT8_MIN && act_max <= INT8_MAX && act_min <= act_max;
}

#endif /* EIP_FIXEDPOINT_H */
