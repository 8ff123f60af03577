/* Status strings. Designated initializers keep the table in step with the enum. */
#include "eip_runtime.h"

static const char *const status_strings[EIP_STATUS_COUNT] = {
    [EIP_OK] = "ok",
    [EIP_ERR_NULL_POINTER] = "a required tensor or params pointer is NULL",
    [EIP_ERR_BAD_SHAPE] = "a tensor dimension is zero, negative or inconsistent",
    [EIP_ERR_BAD_PARAM] = "a kernel parameter is out of range (regenerate the model code)",
    [EIP_ERR_SOFTMAX_SUM] = "softmax row exponent sum reached 512 (TFLite Micro aborts on this input)",
    [EIP_ERR_ARENA] = "tensor arena too small for the memory plan",
    [EIP_ERR_VERSION] = "model code was generated for another runtime version (regenerate it)",
};

const char *eip_status_str(eip_status_t status)
{
    const unsigned int index = (unsigned int)status; /* a negative value wraps to a large one */
    if (index >= (unsigned int)EIP_STATUS_COUNT || status_strings[index] == 0) {
        return "unknown status";
    }
    return status_strings[index];
}
