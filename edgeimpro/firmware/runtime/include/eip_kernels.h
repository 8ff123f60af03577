/*
 * edgeimpro int8 reference kernels: one params struct per op and one entry point per op.
 *
 * The arithmetic reproduces TensorFlow Lite Micro's int8 reference kernels bit for bit
 * (see INT8_SEMANTICS.md). Every parameter derivable when the model is loaded (multipliers,
 * shifts, padding, clamp ranges, broadcast strides, ...) arrives precomputed in the params
 * struct, filled by edgeimpro/codegen/quantparams.py; the kernels only do integer arithmetic.
 *
 * Layout rule (checked by tests/test_kernels.py against the Python dataclasses): a params
 * struct holds only `int32_t x;`, `int32_t x[EIP_MAX_DIMS];` and `const int32_t *x;` members,
 * in the same order as the fields of the dataclass that mirrors it.
 *
 * Conventions: tensors are NHWC, row-major, int8 unless stated; `*_zp` are zero points;
 * `multiplier`/`shift` pairs are TFLM quantized multipliers (Q0.31 mantissa, power-of-two
 * exponent, real value = multiplier * 2^(shift - 31)); act_min/act_max is the final clamp.
 * Elementwise kernels (and ADD/MUL without broadcast, and SOFTMAX) may run in place
 * (output == input); the others need distinct buffers.
 */
#ifndef EIP_KERNELS_H
#define EIP_KERNELS_H

#include <stdint.h>

#include "eip_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rank of the index space of the broadcasting / reducing / padding kernels (leading dims are 1). */
#define EIP_MAX_DIMS 6

/* CONV_2D. Filter [out_c, filter_h, filter_w, filter_c], bias int32 [out_c] or NULL. */
typedef struct {
    int32_t batches;
    int32_t in_h;
    int32_t in_w;
    int32_t in_c;
    int32_t out_h;
    int32_t out_w;
    int32_t out_c;
    int32_t filter_h;
    int32_t filter_w;
    int32_t filter_c;          /* in_c / groups; output channel c reads group c / (out_c / groups) */
    int32_t stride_h;
    int32_t stride_w;
    int32_t dilation_h;
    int32_t dilation_w;
    int32_t pad_top;
    int32_t pad_left;
    int32_t in_zp;
    int32_t out_zp;
    int32_t act_min;
    int32_t act_max;
    const int32_t *multiplier; /* [out_c] */
    const int32_t *shift;      /* [out_c] */
} eip_conv2d_params_t;

/* DEPTHWISE_CONV_2D. Filter [1, filter_h, filter_w, out_c], out_c = in_c * depth_multiplier. */
typedef struct {
    int32_t batches;
    int32_t in_h;
    int32_t in_w;
    int32_t in_c;
    int32_t out_h;
    int32_t out_w;
    int32_t out_c;
    int32_t depth_multiplier;
    int32_t filter_h;
    int32_t filter_w;
    int32_t stride_h;
    int32_t stride_w;
    int32_t dilation_h;
    int32_t dilation_w;
    int32_t pad_top;
    int32_t pad_left;
    int32_t in_zp;
    int32_t out_zp;
    int32_t act_min;
    int32_t act_max;
    const int32_t *multiplier; /* [out_c] */
    const int32_t *shift;      /* [out_c] */
} eip_depthwise_conv2d_params_t;

/* FULLY_CONNECTED. Input [batches, depth], weights [units, depth], bias int32 [units] or NULL.
 * Per-tensor weights repeat their one multiplier for every unit. */
typedef struct {
    int32_t batches;
    int32_t depth;
    int32_t units;
    int32_t in_zp;
    int32_t weights_zp;        /* applied by TFLM for per-tensor weights only; 0 for per-channel */
    int32_t out_zp;
    int32_t act_min;
    int32_t act_max;
    const int32_t *multiplier; /* [units] */
    const int32_t *shift;      /* [units] */
} eip_fully_connected_params_t;

/* MAX_POOL_2D and AVERAGE_POOL_2D: raw codes (input and output share scale and zero point). */
typedef struct {
    int32_t batches;
    int32_t in_h;
    int32_t in_w;
    int32_t channels;
    int32_t out_h;
    int32_t out_w;
    int32_t filter_h;
    int32_t filter_w;
    int32_t stride_h;
    int32_t stride_w;
    int32_t pad_top;
    int32_t pad_left;
    int32_t act_min;
    int32_t act_max;
} eip_pool2d_params_t;

/* ADD with numpy broadcasting. dims is the output shape padded to EIP_MAX_DIMS with leading 1s;
 * in*_strides are element strides of each input over those dims (0 on broadcast dims). */
typedef struct {
    int32_t broadcast;         /* 0: same shapes, flat loop; 1: walk dims with the strides */
    int32_t dims[EIP_MAX_DIMS];
    int32_t in1_strides[EIP_MAX_DIMS];
    int32_t in2_strides[EIP_MAX_DIMS];
    int32_t in1_zp;
    int32_t in2_zp;
    int32_t out_zp;
    int32_t left_shift;        /* 20 */
    int32_t in1_multiplier;
    int32_t in1_shift;         /* <= 0 */
    int32_t in2_multiplier;
    int32_t in2_shift;         /* <= 0 */
    int32_t out_multiplier;
    int32_t out_shift;         /* <= 0 */
    int32_t act_min;
    int32_t act_max;
} eip_add_params_t;

/* MUL with numpy broadcasting (dims and strides as for ADD). */
typedef struct {
    int32_t broadcast;
    int32_t dims[EIP_MAX_DIMS];
    int32_t in1_strides[EIP_MAX_DIMS];
    int32_t in2_strides[EIP_MAX_DIMS];
    int32_t in1_zp;
    int32_t in2_zp;
    int32_t out_zp;
    int32_t multiplier;
    int32_t shift;
    int32_t act_min;
    int32_t act_max;
} eip_mul_params_t;

/* MEAN over any axes. Output element o (row-major over out_dims) sums the input at
 * offset(o, out_strides) + offset(r, reduce_strides) for every r in reduce_dims.
 * multiplier/shift already fold in the division by count (TFLM's eval-time rescaling). */
typedef struct {
    int32_t out_dims[EIP_MAX_DIMS];
    int32_t out_strides[EIP_MAX_DIMS];
    int32_t reduce_dims[EIP_MAX_DIMS];
    int32_t reduce_strides[EIP_MAX_DIMS];
    int32_t count;             /* number of reduced elements per output */
    int32_t in_zp;
    int32_t out_zp;
    int32_t multiplier;
    int32_t shift;
} eip_mean_params_t;

/* SOFTMAX over the last dimension; output quantization is (1/256, -128). */
typedef struct {
    int32_t rows;
    int32_t depth;
    int32_t input_multiplier;
    int32_t input_left_shift;
    int32_t diff_min;
} eip_softmax_params_t;

/* LOGISTIC and TANH (same load-time parameters; TFLM fixes the output quantization). */
typedef struct {
    int32_t size;
    int32_t in_zp;
    int32_t input_multiplier;
    int32_t input_left_shift;
    int32_t input_range_radius;
} eip_logistic_params_t;

/* HARD_SWISH: int16 fixed-point pipeline; multipliers are int16 values. */
typedef struct {
    int32_t size;
    int32_t in_zp;
    int32_t out_zp;
    int32_t output_multiplier; /* int16 */
    int32_t output_shift;      /* <= 0 */
    int32_t reluish_multiplier; /* int16 */
    int32_t reluish_shift;
} eip_hard_swish_params_t;

/* LEAKY_RELU. alpha_sign is -1 for a negative alpha (the multiplier is its magnitude). */
typedef struct {
    int32_t size;
    int32_t in_zp;
    int32_t out_zp;
    int32_t identity_multiplier;
    int32_t identity_shift;
    int32_t alpha_multiplier;
    int32_t alpha_shift;
    int32_t alpha_sign;
} eip_leaky_relu_params_t;

/* RELU (standalone): requantizes, clamps at the output zero point. */
typedef struct {
    int32_t size;
    int32_t in_zp;
    int32_t out_zp;
    int32_t multiplier;
    int32_t shift;
    int32_t act_min;
    int32_t act_max;
} eip_relu_params_t;

/* RELU6 (standalone): TFLM clamps raw codes to [in_zp, six] and ignores the output quantization. */
typedef struct {
    int32_t size;
    int32_t lower;             /* input zero point */
    int32_t upper;             /* input code of 6.0, clamped to 127 */
} eip_relu6_params_t;

/* PAD / PADV2: raw copy, padded cells get pad_value. Shapes padded to EIP_MAX_DIMS with leading 1s. */
typedef struct {
    int32_t in_dims[EIP_MAX_DIMS];
    int32_t pad_before[EIP_MAX_DIMS];
    int32_t pad_after[EIP_MAX_DIMS];
    int32_t pad_value;
} eip_pad_params_t;

/* CONCATENATION: raw copy. For each of `outer` steps, input i contributes inner_sizes[i] elements. */
typedef struct {
    int32_t num_inputs;
    int32_t outer;
    const int32_t *inner_sizes; /* [num_inputs] */
} eip_concatenation_params_t;

/* QUANTIZE int8 -> int8 (requantize). */
typedef struct {
    int32_t size;
    int32_t in_zp;
    int32_t out_zp;
    int32_t multiplier;
    int32_t shift;
} eip_quantize_params_t;

/* RESHAPE when the planner cannot alias input and output: a byte copy. */
typedef struct {
    int32_t size;
} eip_reshape_params_t;

eip_status_t eip_conv2d(const eip_conv2d_params_t *p, const int8_t *input, const int8_t *filter,
                        const int32_t *bias, int8_t *output);
eip_status_t eip_depthwise_conv2d(const eip_depthwise_conv2d_params_t *p, const int8_t *input,
                                  const int8_t *filter, const int32_t *bias, int8_t *output);
eip_status_t eip_fully_connected(const eip_fully_connected_params_t *p, const int8_t *input,
                                 const int8_t *weights, const int32_t *bias, int8_t *output);
eip_status_t eip_max_pool2d(const eip_pool2d_params_t *p, const int8_t *input, int8_t *output);
eip_status_t eip_average_pool2d(const eip_pool2d_params_t *p, const int8_t *input, int8_t *output);
eip_status_t eip_add(const eip_add_params_t *p, const int8_t *input1, const int8_t *input2,
                     int8_t *output);
eip_status_t eip_mul(const eip_mul_params_t *p, const int8_t *input1, const int8_t *input2,
                     int8_t *output);
eip_status_t eip_mean(const eip_mean_params_t *p, const int8_t *input, int8_t *output);
eip_status_t eip_softmax(const eip_softmax_params_t *p, const int8_t *input, int8_t *output);
eip_status_t eip_logistic(const eip_logistic_params_t *p, const int8_t *input, int8_t *output);
eip_status_t eip_tanh(const eip_logistic_params_t *p, const int8_t *input, int8_t *output);
eip_status_t eip_hard_swish(const eip_hard_swish_params_t *p, const int8_t *input, int8_t *output);
eip_status_t eip_leaky_relu(const eip_leaky_relu_params_t *p, const int8_t *input, int8_t *output);
eip_status_t eip_relu(const eip_relu_params_t *p, const int8_t *input, int8_t *output);
eip_status_t eip_relu6(const eip_relu6_params_t *p, const int8_t *input, int8_t *output);
eip_status_t eip_pad(const eip_pad_params_t *p, const int8_t *input, int8_t *output);
eip_status_t eip_concatenation(const eip_concatenation_params_t *p, const int8_t *const *inputs,
                               int8_t *output);
eip_status_t eip_quantize(const eip_quantize_params_t *p, const int8_t *input, int8_t *output);
eip_status_t eip_reshape(const eip_reshape_params_t *p, const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* EIP_KERNELS_H */
