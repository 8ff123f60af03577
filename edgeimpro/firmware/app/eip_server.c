/*
 * Protocol server. Inputs are written straight into the model's input tensors in the arena (no copy), the
 * model runs in place, and outputs and layer tensors are streamed from the arena. Every frame it sends
 * (INFO, RESULT and LAYER in slices, ERROR with its text cut to fit) holds at most EIP_LINK_MAX_PAYLOAD
 * bytes, the size the host learns from INFO. Every bad frame is answered with ERROR; nothing the host sends
 * can stop it. The per-layer hook serves both layer dumps (LAYERS) and the per-layer profile (PROFILE).
 */
#include "eip_server.h"

#include <string.h>

#include "eip_board.h"
#include "eip_frame.h"
#include "model.h"

#ifndef EIP_LINK_MAX_PAYLOAD
#define EIP_LINK_MAX_PAYLOAD EIP_LINK_DEFAULT_MAX_PAYLOAD
#endif

_Static_assert(EIP_LINK_MAX_PAYLOAD >= 64 && EIP_LINK_MAX_PAYLOAD <= EIP_LINK_MAX_PAYLOAD_LIMIT,
               "EIP_LINK_MAX_PAYLOAD must be within 64..65535");
_Static_assert(EIP_MODEL_NUM_LAYERS < 0xFFFF, "layer indices are 16-bit on the wire");

#define RX_CAP (EIP_LINK_HEADER_BYTES + EIP_LINK_MAX_PAYLOAD + EIP_LINK_CRC_BYTES)
/* Largest data slice in an INFO, RESULT or LAYER frame, and the longest ERROR text: every frame stays within
 * EIP_LINK_MAX_PAYLOAD. */
#define INFO_SLICE (EIP_LINK_MAX_PAYLOAD - EIP_INFO_SLICE_SIZE)
#define RESULT_SLICE (EIP_LINK_MAX_PAYLOAD - EIP_RESULT_SIZE)
#define LAYER_SLICE (EIP_LINK_MAX_PAYLOAD - EIP_LAYER_SIZE)
#define COUNTS_SLICE ((EIP_LINK_MAX_PAYLOAD - EIP_COUNTS_SIZE) / 8u)   /* u64 counts per COUNTS frame */
#define ERROR_TEXT_MAX (EIP_LINK_MAX_PAYLOAD - EIP_ERROR_SIZE)

static const char *const link_error_text[EIP_LINK_ERR_COUNT] = EIP_LINK_ERROR_STRINGS;

static struct {
    eip_rx_t rx;
    eip_tx_t tx;
    uint32_t input_filled;   /* input bytes received contiguously from offset 0 */
    uint32_t input_total;
    uint32_t output_total;
    uint16_t seq;            /* sequence number of the request being answered */
    uint64_t excluded;       /* counter ticks spent sending layer frames during invoke */
#ifdef EIP_LAYER_HOOK
    uint8_t layer_selected[(EIP_MODEL_NUM_LAYERS + 7) / 8];
    uint8_t profiling;
    uint64_t layer_end[EIP_MODEL_NUM_LAYERS];   /* counter ticks (less `excluded`) when layer k ended */
#endif
} server;

static uint8_t rx_buffer[RX_CAP];

#ifdef EIP_LAYER_HOOK
static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
#endif

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void uart_sink(const uint8_t *data, uint32_t n, void *ctx)
{
    (void)ctx;
    eip_uart_write(data, n);
}

static void begin(uint8_t type, uint32_t length) { eip_tx_begin(&server.tx, uart_sink, 0, type, server.seq, (uint16_t)length); }

/* Length of a string field on the wire (at most 255 bytes). */
static uint32_t cstr_len(const char *s)
{
    uint32_t n = 0;
    while (s != 0 && n < 255 && s[n] != '\0') {
        n++;
    }
    return n;
}

static void send_error(uint16_t seq, eip_link_error_t code, int32_t detail, const char *text)
{
    if (text == 0) {
        text = link_error_text[code];
    }
    uint32_t n = cstr_len(text);
    if (n > ERROR_TEXT_MAX) {
        n = ERROR_TEXT_MAX;   /* the code says what failed; the text is for people */
    }
    eip_tx_begin(&server.tx, uart_sink, 0, EIP_MSG_ERROR, seq, (uint16_t)(EIP_ERROR_SIZE + n));
    eip_tx_u16(&server.tx, (uint16_t)code);
    eip_tx_u32(&server.tx, (uint32_t)detail);
    eip_tx_data(&server.tx, text, n);
    eip_tx_end(&server.tx);
}

static void send_ack(uint32_t value)
{
    begin(EIP_MSG_ACK, EIP_ACK_SIZE);
    eip_tx_u32(&server.tx, value);
    eip_tx_end(&server.tx);
}

/* ---- INFO ---- */

/*
 * put_info() produces the INFO record through this writer, which forwards to `tx` only the record's bytes in
 * [from, to): one slice per frame, with no buffer for the whole record. With tx == 0 it only counts.
 */
typedef struct {
    eip_tx_t *tx;
    uint32_t pos;    /* record bytes produced so far */
    uint32_t from;
    uint32_t to;
} info_writer_t;

static void w_data(info_writer_t *w, const void *data, uint32_t n)
{
    uint32_t start = w->pos;
    uint32_t end = start + n;
    w->pos = end;
    if (w->tx == 0 || end <= w->from || start >= w->to) {
        return;
    }
    uint32_t skip = start < w->from ? w->from - start : 0;
    uint32_t stop = end > w->to ? n - (end - w->to) : n;
    eip_tx_data(w->tx, (const uint8_t *)data + skip, stop - skip);
}

static void w_u8(info_writer_t *w, uint8_t v) { w_data(w, &v, 1); }

static void w_u16(info_writer_t *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    w_data(w, b, sizeof b);
}

static void w_u32(info_writer_t *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    w_data(w, b, sizeof b);
}

static void put_string(info_writer_t *w, const char *s)
{
    uint32_t n = cstr_len(s);
    w_u8(w, (uint8_t)n);
    w_data(w, s, n);
}

static void put_tensor(info_writer_t *w, const eip_tensor_info_t *t)
{
    float scale = t->scale;
    uint32_t scale_bits;
    memcpy(&scale_bits, &scale, sizeof scale_bits);
    uint8_t rank = t->rank < EIP_MAX_RANK ? t->rank : EIP_MAX_RANK;   /* the rank sent = the dims sent */
    w_u8(w, rank);
    w_u32(w, t->bytes);
    w_u32(w, scale_bits);
    w_u32(w, (uint32_t)t->zero_point);
    for (int d = 0; d < rank; d++) {
        w_u32(w, (uint32_t)t->dims[d]);
    }
    put_string(w, t->name);
}

static void put_info(info_writer_t *w)
{
#ifdef EIP_LAYER_HOOK
    const uint8_t layer_hook = 1;
#else
    const uint8_t layer_hook = 0;
#endif
    w_u8(w, EIP_LINK_VERSION);
    w_u8(w, EIP_BOARD_COUNT_KIND);
    w_u8(w, EIP_BOARD_BUILD_TARGET);
    w_u8(w, EIP_MODEL_NUM_INPUTS);
    w_u8(w, EIP_MODEL_NUM_OUTPUTS);
    w_u8(w, layer_hook);
    w_u16(w, EIP_LINK_MAX_PAYLOAD);
    w_u32(w, eip_board_clock_hz);   /* the clock it runs at, not the registry's target */
    w_u32(w, EIP_MODEL_ARENA_BYTES);
    w_u32(w, EIP_MODEL_WEIGHTS_BYTES);
    w_u16(w, EIP_MODEL_FORMAT_VERSION);
    w_u16(w, EIP_MODEL_NUM_LAYERS);
    put_string(w, EIP_FIRMWARE_VERSION);
    put_string(w, EIP_BOARD_NAME);
    put_string(w, EIP_BOARD_CORE);
    put_string(w, EIP_MODEL_NAME);
    put_string(w, EIP_MODEL_SHA256);
    for (int i = 0; i < EIP_MODEL_NUM_INPUTS; i++) {
        put_tensor(w, &eip_model_inputs[i]);
    }
    for (int i = 0; i < EIP_MODEL_NUM_OUTPUTS; i++) {
        put_tensor(w, &eip_model_outputs[i]);
    }
}

static void send_info(void)
{
    info_writer_t count = {0, 0, 0, 0};
    put_info(&count);
    uint32_t total = count.pos;
    uint32_t offset = 0;
    do {
        uint32_t take = total - offset < INFO_SLICE ? total - offset : INFO_SLICE;
        begin(EIP_MSG_INFO, EIP_INFO_SLICE_SIZE + take);
        eip_tx_u32(&server.tx, offset);
        eip_tx_u32(&server.tx, total);
        info_writer_t slice = {&server.tx, 0, offset, offset + take};
        put_info(&slice);
        eip_tx_end(&server.tx);
        offset += take;
    } while (offset < total);
}

/* ---- INPUT / INVOKE ---- */

/* Copies a chunk of the concatenated inputs into the input tensors; returns 0 or an error code. */
static eip_link_error_t accept_chunk(const uint8_t *payload, uint32_t length)
{
    if (length < EIP_CHUNK_SIZE) {
        return EIP_LINK_ERR_BAD_PAYLOAD;
    }
    uint32_t offset = get_u32(payload + EIP_CHUNK_OFFSET);
    const uint8_t *data = payload + EIP_CHUNK_SIZE;
    uint32_t n = length - EIP_CHUNK_SIZE;
    if (offset == 0) {
        server.input_filled = 0;   /* a new input begins */
    }
    if (offset > server.input_filled) {
        return EIP_LINK_ERR_BAD_OFFSET;
    }
    if (n > server.input_total - offset) {
        return EIP_LINK_ERR_INPUT_OVERFLOW;
    }
    uint32_t base = 0;
    for (int i = 0; i < EIP_MODEL_NUM_INPUTS && n > 0; i++) {
        uint32_t size = eip_model_inputs[i].bytes;
        if (offset < base + size) {
            uint32_t at = offset - base;
            uint32_t take = size - at < n ? size - at : n;
            memcpy(eip_model_input_ptr(i) + at, data, take);
            data += take;
            offset += take;
            n -= take;
        }
        base += size;
    }
    if (offset > server.input_filled) {
        server.input_filled = offset;
    }
    return EIP_LINK_OK;
}

#ifdef EIP_LAYER_HOOK
static int layer_is_selected(int layer)
{
    return layer >= 0 && layer < EIP_MODEL_NUM_LAYERS && (server.layer_selected[layer >> 3] & (1u << (layer & 7)));
}

static void send_layer(int layer, int opcode, const int8_t *output, uint32_t bytes)
{
    uint32_t offset = 0;
    do {
        uint32_t take = bytes - offset < LAYER_SLICE ? bytes - offset : LAYER_SLICE;
        begin(EIP_MSG_LAYER, EIP_LAYER_SIZE + take);
        eip_tx_u16(&server.tx, (uint16_t)layer);
        eip_tx_u16(&server.tx, (uint16_t)opcode);
        eip_tx_u32(&server.tx, offset);
        eip_tx_u32(&server.tx, bytes);
        if (take > 0) {   /* a conv fused with its pool sends one empty slice (its output is NULL) */
            eip_tx_data(&server.tx, output + offset, take);
        }
        eip_tx_end(&server.tx);
        offset += take;
    } while (offset < bytes);
}

/* After every layer: records when it ended (profiling) and sends its output (selected layers). The time
 * spent here after the first counter read is excluded from the counts. */
static void on_layer(int layer, int opcode, const int8_t *output, uint32_t bytes, void *ctx)
{
    (void)ctx;
    int selected = layer_is_selected(layer);
    if (!selected && !server.profiling) {
        return;
    }
    uint64_t start = eip_counter_read();
    if (server.profiling && layer >= 0 && layer < EIP_MODEL_NUM_LAYERS) {
        server.layer_end[layer] = start - server.excluded;
    }
    if (selected) {
        send_layer(layer, opcode, output, bytes);
    }
    server.excluded += eip_counter_read() - start;
}

/* The per-layer counts: layer k's is count(end of k) - count(end of k-1), both measured from the start, so
 * they add up exactly to the count at the end of the last layer. */
static void send_counts(void)
{
    uint64_t before = 0;
    uint32_t first = 0;
    do {
        uint32_t n = EIP_MODEL_NUM_LAYERS - first < COUNTS_SLICE ? EIP_MODEL_NUM_LAYERS - first : COUNTS_SLICE;
        begin(EIP_MSG_COUNTS, EIP_COUNTS_SIZE + 8u * n);
        eip_tx_u16(&server.tx, (uint16_t)first);
        eip_tx_u16(&server.tx, (uint16_t)EIP_MODEL_NUM_LAYERS);
        for (uint32_t k = first; k < first + n; k++) {
            uint64_t end = eip_counter_to_count(server.layer_end[k]);
            eip_tx_u64(&server.tx, end > before ? end - before : 0);
            before = end > before ? end : before;
        }
        eip_tx_end(&server.tx);
        first += n;
    } while (first < EIP_MODEL_NUM_LAYERS);
}
#endif

static void send_results(uint64_t count)
{
    uint32_t offset = 0;
    int i = 0;
    uint32_t at = 0;   /* position inside output i */
    do {
        uint32_t take = server.output_total - offset < RESULT_SLICE ? server.output_total - offset : RESULT_SLICE;
        begin(EIP_MSG_RESULT, EIP_RESULT_SIZE + take);
        eip_tx_u32(&server.tx, offset);
        eip_tx_u32(&server.tx, server.output_total);
        eip_tx_u64(&server.tx, count);
        eip_tx_u8(&server.tx, EIP_BOARD_COUNT_KIND);
        uint32_t left = take;
        while (left > 0 && i < EIP_MODEL_NUM_OUTPUTS) {
            uint32_t size = eip_model_outputs[i].bytes;
            uint32_t piece = size - at < left ? size - at : left;
            eip_tx_data(&server.tx, eip_model_output_ptr(i) + at, piece);
            at += piece;
            left -= piece;
            if (at == size) {
                i++;
                at = 0;
            }
        }
        eip_tx_end(&server.tx);
        offset += take;
    } while (offset < server.output_total);
}

static void handle_invoke(const uint8_t *payload, uint32_t length)
{
    eip_link_error_t err = accept_chunk(payload, length);
    if (err != EIP_LINK_OK) {
        send_error(server.seq, err, (int32_t)server.input_filled, 0);
        return;
    }
    if (server.input_filled != server.input_total) {
        send_error(server.seq, EIP_LINK_ERR_INPUT_INCOMPLETE, (int32_t)server.input_filled, 0);
        return;
    }
    server.input_filled = 0;   /* the arena is reused during invoke: the next run needs a fresh input */
    const int8_t *inputs[EIP_MODEL_NUM_INPUTS];
    int8_t *outputs[EIP_MODEL_NUM_OUTPUTS];
    for (int i = 0; i < EIP_MODEL_NUM_INPUTS; i++) {
        inputs[i] = eip_model_input_ptr(i);
    }
    for (int i = 0; i < EIP_MODEL_NUM_OUTPUTS; i++) {
        outputs[i] = (int8_t *)eip_model_output_ptr(i);   /* outputs stay in the arena: no copy */
    }
    server.excluded = 0;
#ifdef EIP_LAYER_HOOK
    memset(server.layer_end, 0, sizeof server.layer_end);
#endif
    eip_counter_start();
    eip_status_t status = eip_model_invoke_n(inputs, outputs);
    uint64_t count = eip_counter_to_count(eip_counter_read() - server.excluded);
    if (status != EIP_OK) {
        send_error(server.seq, EIP_LINK_ERR_MODEL_FAILED, (int32_t)status, eip_status_str(status));
        return;
    }
#ifdef EIP_LAYER_HOOK
    if (server.profiling) {
        send_counts();
    }
#endif
    send_results(count);
}

static void handle_profile(const uint8_t *payload, uint32_t length)
{
#ifdef EIP_LAYER_HOOK
    if (length != EIP_PROFILE_SIZE || payload[EIP_PROFILE_ENABLED] > 1) {
        send_error(server.seq, EIP_LINK_ERR_BAD_PAYLOAD, (int32_t)length, 0);
        return;
    }
    server.profiling = payload[EIP_PROFILE_ENABLED];
    send_ack(server.profiling ? EIP_MODEL_NUM_LAYERS : 0);
#else
    (void)payload;
    (void)length;
    send_error(server.seq, EIP_LINK_ERR_NO_LAYER_HOOK, 0, 0);
#endif
}

static void handle_layers(const uint8_t *payload, uint32_t length)
{
#ifdef EIP_LAYER_HOOK
    if (length < EIP_LAYERS_SIZE) {
        send_error(server.seq, EIP_LINK_ERR_BAD_PAYLOAD, (int32_t)length, 0);
        return;
    }
    uint16_t count = get_u16(payload + EIP_LAYERS_COUNT);
    if (count == EIP_LINK_LAYERS_ALL) {
        memset(server.layer_selected, 0xFF, sizeof server.layer_selected);
        send_ack(EIP_MODEL_NUM_LAYERS);
        return;
    }
    if (length != EIP_LAYERS_SIZE + 2u * count) {
        send_error(server.seq, EIP_LINK_ERR_BAD_PAYLOAD, (int32_t)length, 0);
        return;
    }
    for (uint32_t k = 0; k < count; k++) {
        uint16_t layer = get_u16(payload + EIP_LAYERS_SIZE + 2 * k);
        if (layer >= EIP_MODEL_NUM_LAYERS) {
            send_error(server.seq, EIP_LINK_ERR_BAD_LAYER, layer, 0);
            return;
        }
    }
    memset(server.layer_selected, 0, sizeof server.layer_selected);
    for (uint32_t k = 0; k < count; k++) {
        uint16_t layer = get_u16(payload + EIP_LAYERS_SIZE + 2 * k);
        server.layer_selected[layer >> 3] |= (uint8_t)(1u << (layer & 7));
    }
    send_ack(count);
#else
    (void)payload;
    (void)length;
    send_error(server.seq, EIP_LINK_ERR_NO_LAYER_HOOK, 0, 0);
#endif
}

static void dispatch(const eip_frame_t *frame)
{
    server.seq = frame->seq;
    switch (frame->type) {
    case EIP_MSG_HELLO:
        send_info();
        break;
    case EIP_MSG_INPUT: {
        eip_link_error_t err = accept_chunk(frame->payload, frame->length);
        if (err != EIP_LINK_OK) {
            send_error(server.seq, err, (int32_t)server.input_filled, 0);
        } else {
            send_ack(server.input_filled);
        }
        break;
    }
    case EIP_MSG_INVOKE:
        handle_invoke(frame->payload, frame->length);
        break;
    case EIP_MSG_LAYERS:
        handle_layers(frame->payload, frame->length);
        break;
    case EIP_MSG_PROFILE:
        handle_profile(frame->payload, frame->length);
        break;
    default:
        send_error(server.seq, EIP_LINK_ERR_UNKNOWN_TYPE, frame->type, 0);
        break;
    }
}

void eip_server_init(void)
{
    memset(&server, 0, sizeof server);
    eip_rx_init(&server.rx, rx_buffer, sizeof rx_buffer);
    for (int i = 0; i < EIP_MODEL_NUM_INPUTS; i++) {
        server.input_total += eip_model_inputs[i].bytes;
    }
    for (int i = 0; i < EIP_MODEL_NUM_OUTPUTS; i++) {
        server.output_total += eip_model_outputs[i].bytes;
    }
#ifdef EIP_LAYER_HOOK
    eip_model_set_layer_hook(on_layer, 0);
#endif
}

void eip_server_feed(uint8_t byte, int uart_error)
{
    if (uart_error) {
        eip_rx_mark_uart_error(&server.rx);
    }
    eip_frame_t frame;
    uint16_t seq;
    int r = eip_rx_push(&server.rx, byte, &frame, &seq);
    if (r == EIP_RX_FRAME) {
        dispatch(&frame);
    } else if (r > 0) {
        int32_t detail = r == EIP_LINK_ERR_TOO_LONG ? EIP_LINK_MAX_PAYLOAD : 0;
        send_error(seq, (eip_link_error_t)r, detail, 0);
    }
}

void eip_server_report_fault(uint32_t detail)
{
    static const uint8_t delimiter = 0;
    eip_uart_write(&delimiter, 1);   /* ends a frame the fault may have cut short, so this one arrives intact */
    send_error(server.seq, EIP_LINK_ERR_FAULT, (int32_t)detail, 0);
}
