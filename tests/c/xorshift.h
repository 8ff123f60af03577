/* The random operands of the requantization checks (requantize_check.c, mve_requantize_check.c): xorshift64,
 * seeded alike, 32 bits per call. */
#ifndef EIP_TEST_XORSHIFT_H
#define EIP_TEST_XORSHIFT_H

#include <stdint.h>

static uint64_t state = 0x9E3779B97F4A7C15u;

static uint32_t next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (uint32_t)(state >> 16);
}

#endif /* EIP_TEST_XORSHIFT_H */
