/* DEPTHWISE_CONV_2D, int8 (INT8_SEMANTICS §3.2): output channel c = ic * depth_multiplier + m. */
#include "eip_kernels.h"
#include "mac_params.h"
#include "depthwise_conv2d_ref.h"

eip_status_t eip_depthwise_conv2d(const eip_depthwise_conv2d_params_t *p, const int8_t *input,
                                  const int8_t *filter, const int32_t *bias, int8_t *output)
{
    const eip_status_t status = eip_depthwise_conv2d_check(p, input, filter, output);
    if (status != EIP_OK) {
        return status;
    }
    for (int32_t b = 0; b < p->batches; ++b) {
        eip_depthwise_conv2d_batch_ref(p, input + b * p->in_h * p->in_w * p->in_c, filter, bias,
                                       output + b * p->out_h * p->out_w * p->out_c);
    }
    return EIP_OK;
}
