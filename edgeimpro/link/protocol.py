"""The one table of the serial protocol (docs/protocol.md): versions, message types, error codes, layouts.

The firmware's `app/eip_link_protocol.h` is generated from this module (`render_c_header()`); a test checks
that the checked-in header equals the generated one. Regenerate with `python -m edgeimpro.link.protocol`.
"""

from __future__ import annotations

import enum
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

PROTOCOL_VERSION = 3                     # 2: INFO in slices (INFO_SLICE); 3: PROFILE and COUNTS (per-layer counts)

# Frame = COBS(header ‖ payload ‖ CRC-32 little-endian) followed by a 0x00 delimiter.
HEADER_FIELDS = (("version", "B"), ("type", "B"), ("seq", "H"), ("length", "H"))
HEADER = struct.Struct("<" + "".join(t for _, t in HEADER_FIELDS))
HEADER_BYTES = HEADER.size               # 6
CRC_BYTES = 4
# The device's receive buffer holds this much payload unless the build overrides EIP_LINK_MAX_PAYLOAD;
# INFO reports the value in force. 4096 keeps a 96x96x3 input at 7 frames and >= 98% wire efficiency.
DEFAULT_MAX_PAYLOAD = 4096
MAX_PAYLOAD_LIMIT = 0xFFFF               # the length field is 16 bits
SEQ_UNSOLICITED = 0xFFFF                 # sequence number of an ERROR about a frame whose header was unreadable


class MsgType(enum.IntEnum):
    HELLO = 0x01     # host -> device: empty; answered by INFO
    INFO = 0x02      # device -> host: a slice of the INFO record (versions, board, model hash, tensors)
    INPUT = 0x03     # host -> device: u32 offset + bytes of the concatenated inputs; answered by ACK
    ACK = 0x04       # device -> host: u32 value (input bytes received, or layers selected)
    INVOKE = 0x05    # host -> device: u32 offset + the last input bytes (may be empty); answered by LAYER*, RESULT+
    RESULT = 0x06    # device -> host: count + a slice of the concatenated outputs
    LAYERS = 0x07    # host -> device: u16 n + n x u16 layer indices (n = 0xFFFF: all); answered by ACK
    LAYER = 0x08     # device -> host: a slice of one layer's output tensor
    ERROR = 0x09     # device -> host: u16 code, i32 detail, UTF-8 text
    PROFILE = 0x0A   # host -> device: u8 enabled; answered by ACK (layers profiled: num_layers or 0)
    COUNTS = 0x0B    # device -> host: a slice of the per-layer counts of the inference (before RESULT)


class ErrorCode(enum.IntEnum):
    BAD_CRC = 1
    BAD_FRAMING = 2
    TOO_LONG = 3
    TOO_SHORT = 4
    BAD_LENGTH = 5
    BAD_VERSION = 6
    UART = 7
    UNKNOWN_TYPE = 8
    BAD_PAYLOAD = 9
    BAD_OFFSET = 10
    INPUT_OVERFLOW = 11
    INPUT_INCOMPLETE = 12
    MODEL_FAILED = 13
    BAD_LAYER = 14
    NO_LAYER_HOOK = 15
    FAULT = 16


ERROR_TEXT: dict[ErrorCode, str] = {
    ErrorCode.BAD_CRC: "frame CRC-32 mismatch",
    ErrorCode.BAD_FRAMING: "COBS decoding failed",
    ErrorCode.TOO_LONG: "frame longer than the receive buffer",
    ErrorCode.TOO_SHORT: "frame shorter than header and CRC",
    ErrorCode.BAD_LENGTH: "header length does not match the frame",
    ErrorCode.BAD_VERSION: "unsupported protocol version",
    ErrorCode.UART: "UART overrun, framing or noise error during the frame",
    ErrorCode.UNKNOWN_TYPE: "unknown message type",
    ErrorCode.BAD_PAYLOAD: "payload malformed for its message type",
    ErrorCode.BAD_OFFSET: "input chunk starts beyond the bytes received",
    ErrorCode.INPUT_OVERFLOW: "input chunk runs past the end of the model inputs",
    ErrorCode.INPUT_INCOMPLETE: "invoke before the whole input arrived",
    ErrorCode.MODEL_FAILED: "model invoke returned an error status",
    ErrorCode.BAD_LAYER: "layer index out of range",
    ErrorCode.NO_LAYER_HOOK: "firmware built without the layer hook",
    ErrorCode.FAULT: "firmware fault (HardFault): the device stopped or restarted",
}

# Errors about the frame itself (not its meaning): the host resends at once instead of waiting for a timeout.
LINK_ERRORS = frozenset({ErrorCode.BAD_CRC, ErrorCode.BAD_FRAMING, ErrorCode.TOO_LONG, ErrorCode.TOO_SHORT,
                         ErrorCode.BAD_LENGTH, ErrorCode.BAD_VERSION, ErrorCode.UART})


class CountKind(enum.IntEnum):
    NONE = 0
    INSTRUCTIONS = 1   # QEMU with -icount shift=0: SysTick ticks x (1e9 / clock)
    CYCLES = 2         # real hardware: DWT CYCCNT


class BuildTarget(enum.IntEnum):
    HARDWARE = 0
    QEMU = 1


LAYERS_ALL = 0xFFFF

# Fixed parts of the payloads, little-endian. Variable tails (data, text, strings) follow the fixed part.
LAYOUTS: dict[str, tuple[tuple[str, str], ...]] = {
    "CHUNK": (("offset", "I"),),                                    # INPUT and INVOKE, then data
    "ACK": (("value", "I"),),
    "RESULT": (("offset", "I"), ("total", "I"), ("count", "Q"), ("count_kind", "B")),   # then data
    "LAYERS": (("count", "H"),),                                    # then count x u16
    "LAYER": (("layer", "H"), ("opcode", "H"), ("offset", "I"), ("total", "I")),        # then data
    "ERROR": (("code", "H"), ("detail", "i")),                      # then text
    "PROFILE": (("enabled", "B"),),
    "COUNTS": (("first", "H"), ("total", "H")),                     # then n x u64: layers first..first+n-1
    # Each INFO frame: this, then a slice of the INFO record (the host reassembles it by offset/total).
    "INFO_SLICE": (("offset", "I"), ("total", "I")),
    # INFO record fixed part; then 5 strings (u8 length + bytes): firmware version, board, core, model name,
    # model sha256 (64 hex chars); then num_inputs + num_outputs tensor records.
    "INFO": (("protocol_version", "B"), ("count_kind", "B"), ("build_target", "B"), ("num_inputs", "B"),
             ("num_outputs", "B"), ("layer_hook", "B"), ("max_payload", "H"), ("clock_hz", "I"),
             ("arena_bytes", "I"), ("weights_bytes", "I"), ("model_format_version", "H"),
             ("num_layers", "H")),
    # Tensor record: fixed part, then rank x i32 dims, then the name (u8 length + bytes).
    "TENSOR": (("rank", "B"), ("bytes", "I"), ("scale", "f"), ("zero_point", "i")),
}

INFO_STRINGS = ("firmware_version", "board", "core", "model_name", "model_sha256")


@dataclass(frozen=True)
class Layout:
    name: str
    struct: struct.Struct
    fields: tuple[str, ...]

    @property
    def size(self) -> int:
        return self.struct.size


def layout(name: str) -> Layout:
    spec = LAYOUTS[name]
    return Layout(name, struct.Struct("<" + "".join(t for _, t in spec)), tuple(f for f, _ in spec))


def _offsets(spec: tuple[tuple[str, str], ...]) -> list[tuple[str, int]]:
    """(field, byte offset) of a packed little-endian layout, as struct computes it."""
    return [(field, struct.calcsize("<" + "".join(t for _, t in spec[:i]))) for i, (field, _) in enumerate(spec)]


def render_c_header() -> str:
    """The C header the firmware includes; the single source of every shared constant."""
    out = [
        "/* GENERATED by edgeimpro/link/protocol.py (python -m edgeimpro.link.protocol): do not edit. */",
        "/* Serial protocol constants shared by the firmware and the host (docs/protocol.md). */",
        "#ifndef EIP_LINK_PROTOCOL_H",
        "#define EIP_LINK_PROTOCOL_H",
        "",
        f"#define EIP_LINK_VERSION {PROTOCOL_VERSION}",
        f"#define EIP_LINK_HEADER_BYTES {HEADER_BYTES}",
        f"#define EIP_LINK_CRC_BYTES {CRC_BYTES}",
        f"#define EIP_LINK_DEFAULT_MAX_PAYLOAD {DEFAULT_MAX_PAYLOAD}",
        f"#define EIP_LINK_MAX_PAYLOAD_LIMIT {MAX_PAYLOAD_LIMIT}",
        f"#define EIP_LINK_SEQ_UNSOLICITED 0x{SEQ_UNSOLICITED:04X}",
        f"#define EIP_LINK_LAYERS_ALL 0x{LAYERS_ALL:04X}",
        "",
        "/* header field offsets */",
    ]
    out += [f"#define EIP_LINK_HDR_{name.upper()} {offset}" for name, offset in _offsets(HEADER_FIELDS)]
    out += ["", "typedef enum {"]
    out += [f"    EIP_MSG_{m.name} = 0x{m.value:02X}," for m in MsgType]
    out += ["} eip_msg_type_t;", "", "typedef enum {", "    EIP_LINK_OK = 0,"]
    out += [f"    EIP_LINK_ERR_{e.name} = {e.value}," for e in ErrorCode]
    out += [f"    EIP_LINK_ERR_COUNT = {max(ErrorCode) + 1}", "} eip_link_error_t;", ""]
    out += ["/* Text of each error code, indexed by eip_link_error_t (designated initializers). */",
            "#define EIP_LINK_ERROR_STRINGS { \\"]
    out += [f'    [EIP_LINK_ERR_{e.name}] = "{ERROR_TEXT[e]}", \\' for e in ErrorCode]
    out += ["}", "", "typedef enum {"]
    out += [f"    EIP_COUNT_{k.name} = {k.value}," for k in CountKind]
    out += ["} eip_count_kind_t;", "", "typedef enum {"]
    out += [f"    EIP_BUILD_{t.name} = {t.value}," for t in BuildTarget]
    out += ["} eip_build_target_t;", ""]
    for name, spec in LAYOUTS.items():
        out.append(f"/* {name} payload fixed part */")
        out += [f"#define EIP_{name}_{field.upper()} {offset}" for field, offset in _offsets(spec)]
        out.append(f"#define EIP_{name}_SIZE {layout(name).size}")
        out.append("")
    out += ["#endif /* EIP_LINK_PROTOCOL_H */", ""]
    return "\n".join(out)


def c_header_path() -> Path:
    from edgeimpro.firmware import firmware_dir

    return firmware_dir() / "app" / "eip_link_protocol.h"


if __name__ == "__main__":
    text = render_c_header()
    if len(sys.argv) > 1 and sys.argv[1] == "--stdout":
        sys.stdout.write(text)
    else:
        c_header_path().write_text(text)
        print(f"wrote {c_header_path()}")
