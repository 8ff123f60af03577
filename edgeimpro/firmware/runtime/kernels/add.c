/* ADD, int8 (INT8_SEMANTICS §3.6): both inputs rescaled to a common 2^-20 grid, summed, requantized. */
#include "add_ref.h"

eip_status_t eip_add(const eip_add_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const eip_status_t status = eip_add_check(p, input1, input2, output);
    if (status == EIP_OK) {
        eip_add_ref(p, input1, input2, output);
    }
    return status;
}
