/*
 * Packed-integer helpers of the Arm DSP kernel variants (Cortex-M4/M7/M33/M55: SMLAD, SXTB16, SXTAB16).
 * All static inline. Loads go through memcpy: the compiler emits single LDR/STR, unaligned accesses are
 * legal on these cores for word loads and the C stays free of aliasing and alignment undefined behaviour.
 */
#ifndef EIP_DSP_SIMD_H
#define EIP_DSP_SIMD_H

#include <arm_acle.h>
#include <stdint.h>
#include <string.h>

#if !defined(__ARM_FEATURE_DSP)
#error "the arm_dsp kernels need a core with the DSP extension (build the reference kernels instead)"
#endif

static inline int32_t eip_load_s8x4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void eip_store_s16x2(int16_t *p, int32_t v)
{
    memcpy(p, &v, sizeof v);
}

/* Bytes 1 and 3 sign-extended to halfwords: SXTB16 with its ROR #8 operand form (GCC 12 emits a separate
 * ROR for __sxtb16(__ror(x, 8)), one more instruction in every inner loop). */
static inline int32_t eip_sxtb16_odd(int32_t x)
{
    int32_t r;
    __asm("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* Bytes 1 and 3 sign-extended and added to the halfwords of a: SXTAB16 with ROR #8. */
static inline int32_t eip_sxtab16_odd(int32_t a, int32_t x)
{
    int32_t r;
    __asm("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}

/* The int16 value v in both halfwords: the addend that makes SXTAB16 compute byte + v per halfword. */
static inline int32_t eip_pair16(int32_t v)
{
    return (int32_t)(((uint32_t)v & 0xFFFFu) * 0x10001u);
}

#endif /* EIP_DSP_SIMD_H */
