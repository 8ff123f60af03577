/* PAD / PADV2 (INT8_SEMANTICS §3.17): raw copy of the input codes; padded cells get pad_value. */
#include <string.h>

#include "eip_kernels.h"
#include "nd_index.h"

eip_status_t eip_pad(const eip_pad_params_t *p, const int8_t *input, int8_t *output)
{
    if (p == 0 || input == 0 || output == 0) {
        return EIP_ERR_NULL_POINTER;
    }
    int32_t out_dims[EIP_MAX_DIMS];
    int32_t in_strides[EIP_MAX_DIMS];
    int32_t stride = 1;
    for (int32_t d = EIP_MAX_DIMS - 1; d >= 0; --d) {
        if (p->in_dims[d] <= 0 || p->pad_before[d] < 0 || p->pad_after[d] < 0) {
            return EIP_ERR_BAD_SHAPE;
        }
        out_dims[d] = p->pad_before[d] + p->in_dims[d] + p->pad_after[d];
        in_strides[d] = stride;
        stride *= p->in_dims[d];
    }
    if (p->pad_value < INT8_MIN || p->pad_value > INT8_MAX) {
        return EIP_ERR_BAD_PARAM;
    }
    const int32_t last = EIP_MAX_DIMS - 1;
    const int32_t row_len = out_dims[last];
    const int8_t pad_value = (int8_t)p->pad_value;

    /* walk the output rows (all dims but the last); copy or fill each row */
    int32_t row_dims[EIP_MAX_DIMS];
    for (int32_t d = 0; d < EIP_MAX_DIMS; ++d) {
        row_dims[d] = d == last ? 1 : out_dims[d];
    }
    int32_t index[EIP_MAX_DIMS];
    eip_index_clear(index);
    int8_t *out = output;
    do {
        bool inside = true;
        int32_t in_offset = 0;
        for (int32_t d = 0; d < last; ++d) {
            const int32_t i = index[d] - p->pad_before[d];
            inside = inside && i >= 0 && i < p->in_dims[d];
            in_offset += i * in_strides[d];
        }
        if (inside) {
            memset(out, pad_value, (size_t)p->pad_before[last]);
            memcpy(out + p->pad_before[last], input + in_offset, (size_t)p->in_dims[last]);
            memset(out + p->pad_before[last] + p->in_dims[last], pad_value, (size_t)p->pad_after[last]);
        } else {
            memset(out, pad_value, (size_t)row_len);
        }
        out += row_len;
    } while (eip_index_next(index, row_dims));
    return EIP_OK;
}
