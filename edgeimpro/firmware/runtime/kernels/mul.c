/* MUL, int8 (INT8_SEMANTICS §3.7): product of the offset inputs, requantized. */
#include "mul_ref.h"

eip_status_t eip_mul(const eip_mul_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const eip_status_t status = eip_mul_check(p, input1, input2, output);
    if (status == EIP_OK) {
        eip_mul_ref(p, input1, input2, output);
    }
    return status;
}
