/*
 * A row-major index over EIP_MAX_DIMS dimensions, for the kernels that broadcast (ADD, MUL),
 * reduce (MEAN) or pad (PAD). Internal to the kernels.
 */
#ifndef EIP_ND_INDEX_H
#define EIP_ND_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "eip_kernels.h"

static inline void eip_index_clear(int32_t index[EIP_MAX_DIMS])
{
    for (int32_t d = 0; d < EIP_MAX_DIMS; ++d) {
        index[d] = 0;
    }
}

/* Steps to the next index in row-major order; returns false after the last one. */
static inline bool eip_index_next(int32_t index[EIP_MAX_DIMS], const int32_t dims[EIP_MAX_DIMS])
{
    for (int32_t d = EIP_MAX_DIMS - 1; d >= 0; --d) {
        if (++index[d] < dims[d]) {
            return true;
        }
        index[d] = 0;
    }
    return false;
}

static inline int32_t eip_index_offset(const int32_t index[EIP_MAX_DIMS], const int32_t strides[EIP_MAX_DIMS])
{
    int32_t offset = 0;
    for (int32_t d = 0; d < EIP_MAX_DIMS; ++d) {
        offset += index[d] * strides[d];
    }
    return offset;
}

/* Product of dims, or -1 when a dimension is not positive. */
static inline int32_t eip_dims_size(const int32_t dims[EIP_MAX_DIMS])
{
    int32_t size = 1;
    for (int32_t d = 0; d < EIP_MAX_DIMS; ++d) {
        if (dims[d] <= 0) {
            return -1;
        }
        size *= dims[d];
    }
    return size;
}

#endif /* EIP_ND_INDEX_H */
