/*
 * Fuzz harness for the firmware's frame decoder and protocol server (docs/protocol.md), compiled for the
 * host with the app, the runtime and the fixture model under ASan/UBSan (tests/test_frame_fuzz.py,
 * bench/fuzz_frames.py):
 *
 *     frame_fuzz SEED FRAMES [CHECK_EVERY]
 *
 * A seeded generator feeds FRAMES items to eip_server_feed(): valid requests, the same mutated (bit flips,
 * bytes overwritten, inserted, deleted), wrong CRCs, length fields at and past the limits, other protocol
 * versions, oversized and truncated frames, COBS edge cases (runs of 0xFF blocks, blocks promising more
 * than arrives, empty frames), UART error flags, and random bytes. Every byte the server sends goes through
 * a second decoder: each frame must be intact and hold at most EIP_LINK_MAX_PAYLOAD bytes. Every CHECK_EVERY
 * items (and at the end) the server must still answer exactly: LAYERS none -> ACK 0, HELLO -> the same INFO
 * record as at start, and a chunked inference -> the same RESULT bytes. Any failure aborts (exit != 0); a
 * sanitizer report aborts too. On success one JSON line on stdout gives the counts.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eip_board.h"
#include "eip_crc32.h"
#include "eip_frame.h"
#include "eip_server.h"
#include "model.h"

#ifndef EIP_LINK_MAX_PAYLOAD
#define EIP_LINK_MAX_PAYLOAD EIP_LINK_DEFAULT_MAX_PAYLOAD
#endif
#define MAXP ((uint32_t)EIP_LINK_MAX_PAYLOAD)
#define FRAME_CAP (EIP_LINK_HEADER_BYTES + MAXP + EIP_LINK_CRC_BYTES)
#define RECORD_CAP 65536u

static void fail(const char *what, long a, long b)
{
    fprintf(stderr, "frame_fuzz: %s (%ld, %ld)\n", what, a, b);
    abort();
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* ---- the device's transmit line: every frame decoded and checked ---- */

static struct {
    eip_rx_t rx;
    uint8_t buf[FRAME_CAP + 64];   /* room for a frame slightly too long, so that it is seen and reported */
    uint64_t frames;
    uint64_t bytes;
    uint64_t by_type[256];
    uint64_t errors[EIP_LINK_ERR_COUNT];
    /* the answer to the check request being made */
    int capture;
    uint16_t seq;
    uint8_t info[RECORD_CAP];
    uint32_t info_len;
    uint32_t info_total;
    uint8_t result[RECORD_CAP];
    uint32_t result_len;
    uint32_t result_total;
    uint32_t acks;
    uint32_t ack_value;
    int error_code;
} out;

static void append_slice(uint8_t *rec, uint32_t *len, uint32_t *total, const uint8_t *p, uint32_t n,
                         uint32_t head)
{
    if (n < head) {
        fail("slice shorter than its header", n, head);
    }
    uint32_t offset = rd32(p);
    uint32_t t = rd32(p + 4);
    if (offset != *len || (*len != 0 && t != *total) || t > RECORD_CAP || offset + (n - head) > t) {
        fail("inconsistent slice", offset, *len);
    }
    *total = t;
    memcpy(rec + *len, p + head, n - head);
    *len += n - head;
}

static void on_device_frame(const eip_frame_t *f)
{
    out.frames++;
    out.by_type[f->type]++;
    if (f->length > MAXP) {
        fail("device frame longer than the max payload", f->length, MAXP);
    }
    switch (f->type) {
    case EIP_MSG_INFO:
    case EIP_MSG_ACK:
    case EIP_MSG_RESULT:
    case EIP_MSG_LAYER:
    case EIP_MSG_COUNTS:
        break;
    case EIP_MSG_ERROR: {
        if (f->length < EIP_ERROR_SIZE) {
            fail("short ERROR", f->length, 0);
        }
        uint16_t code = rd16(f->payload + EIP_ERROR_CODE);
        if (code == 0 || code >= EIP_LINK_ERR_COUNT) {
            fail("unknown error code", code, 0);
        }
        out.errors[code]++;
        break;
    }
    default:
        fail("device sent a frame of unknown type", f->type, 0);
    }
    if (!out.capture || f->seq != out.seq) {
        return;
    }
    switch (f->type) {
    case EIP_MSG_INFO:
        append_slice(out.info, &out.info_len, &out.info_total, f->payload, f->length, EIP_INFO_SLICE_SIZE);
        break;
    case EIP_MSG_RESULT:
        append_slice(out.result, &out.result_len, &out.result_total, f->payload, f->length, EIP_RESULT_SIZE);
        break;
    case EIP_MSG_ACK:
        if (f->length != EIP_ACK_SIZE) {
            fail("ACK of the wrong size", f->length, 0);
        }
        out.acks++;
        out.ack_value = rd32(f->payload);
        break;
    case EIP_MSG_ERROR:
        out.error_code = rd16(f->payload);
        break;
    default:
        break;
    }
}

void eip_uart_write(const uint8_t *data, uint32_t n)
{
    out.bytes += n;
    for (uint32_t i = 0; i < n; i++) {
        eip_frame_t f;
        uint16_t seq;
        int r = eip_rx_push(&out.rx, data[i], &f, &seq);
        if (r == EIP_RX_FRAME) {
            on_device_frame(&f);
        } else if (r != EIP_RX_NONE) {
            fail("the device sent a damaged or oversized frame", r, (long)out.frames);
        }
    }
}

/* ---- the rest of the board ---- */

uint32_t eip_board_clock_hz = EIP_BOARD_CLOCK_HZ;

void eip_board_init(void) {}

void eip_uart_init(uint32_t kernel_clock_hz, uint32_t baud)
{
    (void)kernel_clock_hz;
    (void)baud;
}

int eip_uart_read(uint8_t *byte)
{
    (void)byte;
    fail("eip_uart_read is not used by the harness", 0, 0);
    return 0;
}

void eip_uart_flush(void) {}

void eip_counter_init(void) {}

void eip_counter_start(void) {}

uint64_t eip_counter_read(void) { return 0; }

uint64_t eip_counter_to_count(uint64_t ticks) { return ticks; }

void eip_board_fatal(uint32_t code)
{
    fail("eip_board_fatal", (long)code, 0);
    abort();
}

/* ---- generator ---- */

static uint64_t rng;

static uint64_t next(void)   /* splitmix64 */
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint32_t below(uint32_t n) { return n == 0 ? 0 : (uint32_t)(next() % n); }

static uint8_t wire[8 * FRAME_CAP + 8192];
static uint32_t wire_len;
static uint8_t body[4 * FRAME_CAP + 64];
static uint8_t payload[4 * FRAME_CAP];

static void wire_put(uint8_t b)
{
    if (wire_len >= sizeof wire) {
        fail("harness wire buffer full", wire_len, 0);
    }
    wire[wire_len++] = b;
}

/* COBS without the delimiter, written independently of the firmware's encoder. */
static void cobs_put(const uint8_t *d, uint32_t n)
{
    uint32_t i = 0;
    for (;;) {
        uint32_t run = 0;
        while (i + run < n && d[i + run] != 0 && run < 254) {
            run++;
        }
        wire_put((uint8_t)(run + 1));
        for (uint32_t k = 0; k < run; k++) {
            wire_put(d[i + k]);
        }
        i += run;
        if (run == 254) {
            if (i == n) {
                wire_put(1);   /* the final (empty) block */
                return;
            }
            continue;          /* a 0xFF block: no implied zero */
        }
        if (i == n) {
            return;
        }
        i++;                   /* the zero this block stood for */
        if (i == n) {
            wire_put(1);
            return;
        }
    }
}

/* One frame with any header fields; crc_xor != 0 damages the CRC. No delimiter. */
static void frame(uint8_t version, uint8_t type, uint16_t seq, uint16_t length_field, const uint8_t *p,
                  uint32_t n, uint32_t crc_xor)
{
    if (n + EIP_LINK_HEADER_BYTES + EIP_LINK_CRC_BYTES > sizeof body) {
        fail("harness body buffer too small", n, 0);
    }
    uint8_t *b = body;
    b[0] = version;
    b[1] = type;
    b[2] = (uint8_t)seq;
    b[3] = (uint8_t)(seq >> 8);
    b[4] = (uint8_t)length_field;
    b[5] = (uint8_t)(length_field >> 8);
    if (n != 0) {
        memcpy(b + EIP_LINK_HEADER_BYTES, p, n);
    }
    uint32_t len = EIP_LINK_HEADER_BYTES + n;
    wr32(b + len, eip_crc32(0, b, len) ^ crc_xor);
    cobs_put(b, len + EIP_LINK_CRC_BYTES);
}

static uint32_t input_total;
static uint32_t output_total;

/* A request the server understands, with fields around the interesting values; returns its type. */
static uint8_t request_payload(uint32_t *n)
{
    static const uint8_t types[] = {EIP_MSG_HELLO, EIP_MSG_INPUT, EIP_MSG_INVOKE, EIP_MSG_LAYERS, EIP_MSG_INPUT,
                                    EIP_MSG_INVOKE, EIP_MSG_PROFILE, EIP_MSG_INFO, EIP_MSG_ACK, 0x00, 0x55, 0xFF};
    uint8_t type = types[below(sizeof types)];
    *n = 0;
    if (type == EIP_MSG_INPUT || type == EIP_MSG_INVOKE) {
        static const uint32_t at[] = {0, 0, 0, 1, 60, 0xFFFFFFFFu, 0x80000000u};
        uint32_t offset = below(4) == 0 ? at[below(sizeof at / sizeof at[0])] : below(input_total + 8);
        if (offset == 1) {
            offset = input_total;
        } else if (offset == 60) {
            offset = input_total - 1;
        }
        uint32_t data = below(5) == 0 ? below(MAXP + 8) : below(MAXP - EIP_CHUNK_SIZE + 1);
        wr32(payload, offset);
        for (uint32_t i = 0; i < data; i++) {
            payload[EIP_CHUNK_SIZE + i] = (uint8_t)next();
        }
        *n = below(20) == 0 ? below(EIP_CHUNK_SIZE) : EIP_CHUNK_SIZE + data;   /* sometimes no offset */
    } else if (type == EIP_MSG_LAYERS) {
        static const uint16_t counts[] = {0, 1, 2, 3, EIP_MODEL_NUM_LAYERS, 0xFFFF, 0xFFFE, 0x8000};
        uint16_t count = counts[below(sizeof counts / sizeof counts[0])];
        payload[0] = (uint8_t)count;
        payload[1] = (uint8_t)(count >> 8);
        uint32_t k = count == 0xFFFF ? below(3) : (below(4) == 0 ? below(40) : count);
        if (2 + 2u * k > MAXP + 8) {
            k = (MAXP + 6) / 2;
        }
        for (uint32_t i = 0; i < k; i++) {
            uint16_t layer = below(3) == 0 ? (uint16_t)next() : (uint16_t)below(EIP_MODEL_NUM_LAYERS + 2);
            payload[2 + 2 * i] = (uint8_t)layer;
            payload[3 + 2 * i] = (uint8_t)(layer >> 8);
        }
        *n = below(20) == 0 ? below(2) : 2 + 2 * k;
    } else if (type == EIP_MSG_PROFILE) {       /* on, off, or a byte the server must refuse */
        static const uint8_t flags[] = {0, 1, 1, 2, 0xFF};
        payload[0] = below(4) == 0 ? (uint8_t)next() : flags[below(sizeof flags)];
        *n = below(10) == 0 ? below(4) : EIP_PROFILE_SIZE;
    } else {
        *n = below(4) == 0 ? below(MAXP + 1) : 0;
        for (uint32_t i = 0; i < *n; i++) {
            payload[i] = (uint8_t)next();
        }
    }
    return type;
}

static uint16_t fuzz_seq(void) { return below(8) == 0 ? 0xFFFF : (uint16_t)below(0x8000); }

static void valid_request(void)
{
    uint32_t n;
    uint8_t type = request_payload(&n);
    frame(EIP_LINK_VERSION, type, fuzz_seq(), (uint16_t)n, payload, n, 0);
}

static void random_bytes(uint32_t n, int zeros)
{
    for (uint32_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)next();
        wire_put(zeros ? b : (uint8_t)(b | (b == 0)));
    }
}

static void mutate(uint32_t from)
{
    uint32_t k = 1 + below(4);
    for (uint32_t j = 0; j < k && wire_len > from; j++) {
        uint32_t at = from + below(wire_len - from);
        switch (below(5)) {
        case 0:
            wire[at] ^= (uint8_t)(1u << below(8));
            break;
        case 1:
            wire[at] = (uint8_t)next();
            break;
        case 2:   /* delete */
            memmove(wire + at, wire + at + 1, wire_len - at - 1);
            wire_len--;
            break;
        case 3:   /* insert */
            if (wire_len < sizeof wire) {
                memmove(wire + at + 1, wire + at, wire_len - at);
                wire[at] = below(4) == 0 ? 0 : (uint8_t)next();
                wire_len++;
            }
            break;
        default:  /* truncate */
            wire_len = at;
            break;
        }
    }
}

/* COBS structures at the edges of the decoder's logic. */
static void cobs_edge(void)
{
    switch (below(7)) {
    case 0: {   /* full 0xFF blocks, up to past the receive buffer */
        uint32_t blocks = 1 + below(FRAME_CAP / 254 + 3);
        for (uint32_t b = 0; b < blocks; b++) {
            wire_put(0xFF);
            random_bytes(254, 0);
        }
        break;
    }
    case 1:     /* a block promising more than arrives */
        wire_put((uint8_t)(2 + below(254)));
        random_bytes(below(3), 0);
        break;
    case 2:     /* only implied zeros */
        for (uint32_t i = below(FRAME_CAP + 20); i > 0; i--) {
            wire_put(1);
        }
        break;
    case 3:     /* empty frames */
        for (uint32_t i = 1 + below(4); i > 0; i--) {
            wire_put(0);
        }
        break;
    case 4: {   /* exactly the receive buffer, one more and one less, valid CRC */
        static const int32_t delta[] = {0, 1, -1};
        uint32_t n = (uint32_t)((int32_t)MAXP + delta[below(3)]);
        for (uint32_t i = 0; i < n; i++) {
            payload[i] = (uint8_t)next();
        }
        frame(EIP_LINK_VERSION, EIP_MSG_HELLO, fuzz_seq(), (uint16_t)n, payload, n, 0);
        break;
    }
    case 5:     /* a lone code byte */
        wire_put((uint8_t)(1 + below(255)));
        break;
    default: {  /* header and CRC only, cut at every length below the minimum */
        uint8_t b[EIP_LINK_HEADER_BYTES + EIP_LINK_CRC_BYTES] = {EIP_LINK_VERSION, EIP_MSG_HELLO};
        wr32(b + EIP_LINK_HEADER_BYTES, eip_crc32(0, b, EIP_LINK_HEADER_BYTES));
        cobs_put(b, below(sizeof b));
        break;
    }
    }
}

/* A whole inference as the host sends it (random input, sometimes with layers selected or the fixture's
 * error input), so that RESULT, LAYER and the model's error path run between the hostile frames. */
static void session(void)
{
    uint16_t seq = fuzz_seq();
    if (below(3) == 0) {
        uint8_t all[2] = {0xFF, 0xFF};
        frame(EIP_LINK_VERSION, EIP_MSG_LAYERS, seq, 2, all, 2, 0);
        wire_put(0);
    }
    uint32_t step = MAXP - EIP_CHUNK_SIZE;
    int model_error = below(4) == 0;
    int invoke = below(3) != 0;   /* else the input stays complete, waiting, for the frames that follow */
    for (uint32_t off = 0; off < input_total || off == 0; off += step) {
        uint32_t n = off + step <= input_total ? step : input_total - off;
        wr32(payload, off);
        for (uint32_t i = 0; i < n; i++) {
            payload[EIP_CHUNK_SIZE + i] = (uint8_t)next();
        }
        if (off == 0 && model_error && n >= 4) {
            static const uint8_t bad[4] = {0x80, 0x7F, 0x80, 0x7F};   /* the fixture returns an error */
            memcpy(payload + EIP_CHUNK_SIZE, bad, sizeof bad);
        }
        uint8_t type = off + n >= input_total && invoke ? EIP_MSG_INVOKE : EIP_MSG_INPUT;
        frame(EIP_LINK_VERSION, type, seq, (uint16_t)(EIP_CHUNK_SIZE + n), payload, EIP_CHUNK_SIZE + n, 0);
        wire_put(0);
        if (off + n >= input_total) {
            break;
        }
    }
}

/* One fuzz item: a frame or a stretch of junk, then (usually) a delimiter. Returns where a UART error is
 * flagged (an index into wire, or UINT32_MAX). */
static uint32_t fuzz_item(void)
{
    uint32_t r = below(100);
    uint32_t uart_error_at = UINT32_MAX;
    int delimit = 1;
    if (r < 35) {
        valid_request();
    } else if (r < 50) {
        valid_request();
        mutate(0);
    } else if (r < 58) {   /* wrong CRC */
        uint32_t n;
        uint8_t type = request_payload(&n);
        frame(EIP_LINK_VERSION, type, fuzz_seq(), (uint16_t)n, payload, n, 1u << below(32));
    } else if (r < 64) {   /* the length field lies, the CRC is right */
        uint32_t n;
        uint8_t type = request_payload(&n);
        static const uint32_t lies[] = {0, 1, 0xFFFF, EIP_LINK_MAX_PAYLOAD, EIP_LINK_MAX_PAYLOAD + 1};
        uint32_t field = below(2) ? n + 1 - 2 * below(2) : lies[below(5)];
        frame(EIP_LINK_VERSION, type, fuzz_seq(), (uint16_t)field, payload, n, 0);
    } else if (r < 68) {   /* another protocol version */
        uint32_t n;
        uint8_t type = request_payload(&n);
        frame((uint8_t)(EIP_LINK_VERSION + 1 + below(254)), type, fuzz_seq(), (uint16_t)n, payload, n, 0);
    } else if (r < 74) {   /* oversized, intact */
        uint32_t n = MAXP + 1 + below(2 * MAXP);
        for (uint32_t i = 0; i < n; i++) {
            payload[i] = (uint8_t)next();
        }
        frame(EIP_LINK_VERSION, EIP_MSG_INPUT, fuzz_seq(), (uint16_t)n, payload, n, 0);
    } else if (r < 80) {   /* truncated */
        valid_request();
        wire_len = below(wire_len);
    } else if (r < 86) {
        cobs_edge();
    } else if (r < 90) {
        random_bytes(below(2 * FRAME_CAP), 1);
        delimit = below(2);
    } else if (r < 94) {
        random_bytes(below(3 * FRAME_CAP), 0);
    } else if (r < 97) {   /* a UART error on one byte of a valid frame */
        valid_request();
        uart_error_at = below(wire_len);
    } else if (r < 98) {   /* two frames back to back: no delimiter between them makes one damaged frame */
        valid_request();
        valid_request();
    } else {
        session();
    }
    if (delimit) {
        wire_put(0);
    }
    return uart_error_at;
}

/* ---- checks: the server still answers exactly ---- */

static uint8_t golden_info[RECORD_CAP];
static uint32_t golden_info_len;
static uint8_t golden_result[RECORD_CAP];
static uint32_t golden_result_len;
static uint16_t check_seq = 0x8000;   /* fuzz sequence numbers stay below this, or are 0xFFFF */
static uint64_t checks;

static void feed_wire(uint32_t uart_error_at)
{
    for (uint32_t i = 0; i < wire_len; i++) {
        eip_server_feed(wire[i], i == uart_error_at);
    }
    wire_len = 0;
}

static void request(uint8_t type, const uint8_t *p, uint32_t n)
{
    out.capture = 1;
    out.seq = check_seq;
    check_seq = check_seq == 0xFFFE ? 0x8000 : (uint16_t)(check_seq + 1);
    out.info_len = out.info_total = out.result_len = out.result_total = 0;
    out.acks = 0;
    out.error_code = 0;
    frame(EIP_LINK_VERSION, type, out.seq, (uint16_t)n, p, n, 0);
    wire_put(0);
    feed_wire(UINT32_MAX);   /* the server answers before eip_server_feed returns */
    out.capture = 0;
    if (out.error_code != 0) {
        fail("check request answered with ERROR", out.error_code, type);
    }
}

static void check_server(int first)
{
    wire_put(0);   /* ends whatever partial frame the fuzz left */
    feed_wire(UINT32_MAX);
    uint8_t none[2] = {0, 0};
    request(EIP_MSG_LAYERS, none, sizeof none);
    if (out.acks != 1 || out.ack_value != 0) {
        fail("LAYERS none: no ACK 0", out.acks, out.ack_value);
    }
    request(EIP_MSG_HELLO, 0, 0);
    if (out.info_len == 0 || out.info_len != out.info_total) {
        fail("HELLO: incomplete INFO", out.info_len, out.info_total);
    }
    if (first) {
        const char *sha = EIP_MODEL_SHA256;
        int found = 0;
        for (uint32_t i = 0; i + 64 <= out.info_len && !found; i++) {
            found = memcmp(out.info + i, sha, 64) == 0;
        }
        if (out.info[0] != EIP_LINK_VERSION || !found) {
            fail("INFO lacks the protocol version or the model sha256", out.info[0], found);
        }
        memcpy(golden_info, out.info, out.info_len);
        golden_info_len = out.info_len;
    } else if (out.info_len != golden_info_len || memcmp(out.info, golden_info, golden_info_len) != 0) {
        fail("INFO changed", out.info_len, golden_info_len);
    }
    /* one inference, chunked as the host does it */
    uint32_t step = MAXP - EIP_CHUNK_SIZE;
    uint32_t last = input_total == 0 ? 0 : (input_total - 1) / step * step;
    for (uint32_t off = 0;; off += step) {
        uint32_t n = off + step <= input_total ? step : input_total - off;
        wr32(payload, off);
        for (uint32_t i = 0; i < n; i++) {
            payload[EIP_CHUNK_SIZE + i] = (uint8_t)((off + i) * 37u + 11u);
        }
        if (off < last) {
            request(EIP_MSG_INPUT, payload, EIP_CHUNK_SIZE + n);
            if (out.acks != 1 || out.ack_value != off + n) {
                fail("INPUT: wrong ACK", out.ack_value, off + n);
            }
            continue;
        }
        request(EIP_MSG_INVOKE, payload, EIP_CHUNK_SIZE + n);
        break;
    }
    if (out.result_len != output_total || out.result_total != output_total) {
        fail("INVOKE: incomplete RESULT", out.result_len, output_total);
    }
    if (first) {
        memcpy(golden_result, out.result, out.result_len);
        golden_result_len = out.result_len;
    } else if (memcmp(out.result, golden_result, golden_result_len) != 0) {
        fail("RESULT changed", out.result_len, 0);
    }
    checks++;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s SEED FRAMES [CHECK_EVERY]\n", argv[0]);
        return 2;
    }
    unsigned long long seed = strtoull(argv[1], 0, 0);
    rng = seed;
    uint64_t frames = strtoull(argv[2], 0, 0);
    uint64_t every = argc > 3 ? strtoull(argv[3], 0, 0) : 1000;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    eip_rx_init(&out.rx, out.buf, sizeof out.buf);
    eip_server_init();
    for (int i = 0; i < EIP_MODEL_NUM_INPUTS; i++) {
        input_total += eip_model_inputs[i].bytes;
    }
    for (int i = 0; i < EIP_MODEL_NUM_OUTPUTS; i++) {
        output_total += eip_model_outputs[i].bytes;
    }
    if (output_total > RECORD_CAP) {
        fail("outputs larger than the harness's record buffer", output_total, RECORD_CAP);
    }
    check_server(1);
    uint64_t bytes_in = 0;
    for (uint64_t i = 1; i <= frames; i++) {
        uint32_t uart_error_at = fuzz_item();
        bytes_in += wire_len;
        feed_wire(uart_error_at);
        if (every != 0 && i % every == 0) {
            check_server(0);
        }
    }
    check_server(0);

    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("{\"seed\": %llu, \"frames\": %llu, \"bytes_in\": %llu, \"checks\": %llu, \"max_payload\": %u, "
           "\"device_frames\": %llu, \"device_bytes\": %llu, \"seconds\": %.3f, \"errors\": {",
           seed, (unsigned long long)frames, (unsigned long long)bytes_in, (unsigned long long)checks,
           (unsigned)MAXP, (unsigned long long)out.frames, (unsigned long long)out.bytes, seconds);
    const char *sep = "";
    for (int c = 1; c < EIP_LINK_ERR_COUNT; c++) {
        printf("%s\"%d\": %llu", sep, c, (unsigned long long)out.errors[c]);
        sep = ", ";
    }
    printf("}, \"answers\": {");
    sep = "";
    for (int t = 0; t < 256; t++) {
        if (out.by_type[t] != 0) {
            printf("%s\"%d\": %llu", sep, t, (unsigned long long)out.by_type[t]);
            sep = ", ";
        }
    }
    printf("}}\n");
    return 0;
}
