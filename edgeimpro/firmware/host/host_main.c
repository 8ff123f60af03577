/*
 * Host runner for generated model code: feeds a batch of raw int8 inputs through eip_model_invoke_n.
 *
 *   runner INPUTS.bin OUTPUTS.bin COUNT [LAYERS.bin]
 *
 * INPUTS.bin holds COUNT records, each the model's inputs back to back (input 0 bytes, input 1 bytes, ...);
 * OUTPUTS.bin receives COUNT records of the outputs. With -DEIP_LAYER_HOOK and a LAYERS.bin argument,
 * every layer's output is appended as [u32 sample][u32 layer][u32 opcode][u32 bytes][bytes].
 * Exit status: 0 ok, 2 usage, 3 I/O, 4 a model status (printed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#ifdef EIP_LAYER_HOOK
typedef struct {
    FILE *file;
    uint32_t sample;
} layer_sink_t;

static void write_layer(int layer, int opcode, const int8_t *output, uint32_t bytes, void *ctx)
{
    layer_sink_t *sink = (layer_sink_t *)ctx;
    uint32_t header[4] = {sink->sample, (uint32_t)layer, (uint32_t)opcode, bytes};
    fwrite(header, sizeof header, 1, sink->file);
    if (bytes > 0) {   /* a conv fused with its pool has no output of its own (NULL, 0) */
        fwrite(output, 1, bytes, sink->file);
    }
}
#endif

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: %s INPUTS.bin OUTPUTS.bin COUNT [LAYERS.bin]\n", argv[0]);
        return 2;
    }
    long count = strtol(argv[3], NULL, 10);
    FILE *in = fopen(argv[1], "rb");
    FILE *out = fopen(argv[2], "wb");
    if (in == NULL || out == NULL || count < 0) {
        fprintf(stderr, "cannot open %s or %s\n", argv[1], argv[2]);
        return 3;
    }
#ifdef EIP_LAYER_HOOK
    layer_sink_t sink = {NULL, 0};
    if (argc == 5) {
        sink.file = fopen(argv[4], "wb");
        if (sink.file == NULL) {
            fprintf(stderr, "cannot open %s\n", argv[4]);
            return 3;
        }
        eip_model_set_layer_hook(write_layer, &sink);
    }
#else
    if (argc == 5) {
        fprintf(stderr, "layer dumps need a build with -DEIP_LAYER_HOOK\n");
        return 2;
    }
#endif
    static int8_t inputs[EIP_MODEL_NUM_INPUTS][EIP_MODEL_MAX_INPUT_BYTES];
    static int8_t outputs[EIP_MODEL_NUM_OUTPUTS][EIP_MODEL_MAX_OUTPUT_BYTES];
    const int8_t *in_ptrs[EIP_MODEL_NUM_INPUTS];
    int8_t *out_ptrs[EIP_MODEL_NUM_OUTPUTS];
    for (int i = 0; i < EIP_MODEL_NUM_INPUTS; i++) {
        in_ptrs[i] = inputs[i];
    }
    for (int i = 0; i < EIP_MODEL_NUM_OUTPUTS; i++) {
        out_ptrs[i] = outputs[i];
    }
    for (long s = 0; s < count; s++) {
        for (int i = 0; i < EIP_MODEL_NUM_INPUTS; i++) {
            if (fread(inputs[i], 1, eip_model_inputs[i].bytes, in) != eip_model_inputs[i].bytes) {
                fprintf(stderr, "input file too short at sample %ld\n", s);
                return 3;
            }
        }
#ifdef EIP_LAYER_HOOK
        sink.sample = (uint32_t)s;
#endif
        eip_status_t st = eip_model_invoke_n(in_ptrs, out_ptrs);
        if (st != EIP_OK) {
            fprintf(stderr, "sample %ld: %s\n", s, eip_status_str(st));
            return 4;
        }
        for (int i = 0; i < EIP_MODEL_NUM_OUTPUTS; i++) {
            fwrite(outputs[i], 1, eip_model_outputs[i].bytes, out);
        }
    }
    fclose(in);
    if (fclose(out) != 0) {
        return 3;
    }
#ifdef EIP_LAYER_HOOK
    if (sink.file != NULL && fclose(sink.file) != 0) {
        return 3;
    }
#endif
    return 0;
}
