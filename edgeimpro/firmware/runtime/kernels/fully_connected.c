/* FULLY_CONNECTED, int8 (INT8_SEMANTICS §3.3). The weight zero point is 0 unless weights are per-tensor. */
#include "eip_kernels.h"
#include "mac_params.h"
#include "fixedpoint.h"

eip_status_t eip_fully_connected(const eip_fully_connected_params_t *p, const int8_t *input,
                                 const int8_t *weights, const int32_t *bias, int8_t *output)
{
    const eip_status_t status = eip_fully_connected_check(p, input, weights, output);
    if (status != EIP_OK) {
        return status;
    }
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * p->depth;
        for (int32_t o = 0; o < p->units; ++o) {
            const int8_t *w = weights + o * p->depth;
            int32_t acc = 0;
            for (int32_t d = 0; d < p->depth; ++d) {
                acc = eip_add_wrap(acc, ((int32_t)w[d] - p->weights_zp) * ((int32_t)x[d] - p->in_zp));
            }
            if (bias != 0) {
                acc = eip_add_wrap(acc, bias[o]);
            }
            output[b * p->units + o] =
                eip_requantize(acc, p->multiplier[o], p->shift[o], p->out_zp, p->act_min, p->act_max);
        }
    }
    return EIP_OK;
}
