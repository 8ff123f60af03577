"""Frame codec (docs/protocol.md): COBS framing, the header, CRC-32, and the message payloads.

Pure functions and one streaming decoder; no I/O. The constants come from `edgeimpro.link.protocol`.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from edgeimpro.link.protocol import (
    CRC_BYTES,
    HEADER,
    HEADER_BYTES,
    INFO_STRINGS,
    LAYERS_ALL,
    MAX_PAYLOAD_LIMIT,
    PROTOCOL_VERSION,
    BuildTarget,
    CountKind,
    ErrorCode,
    MsgType,
    layout,
)


class FrameError(ValueError):
    """A frame that failed COBS decoding, its CRC, its header or its payload layout."""


class VersionMismatch(FrameError):
    """An intact frame of another protocol version: retrying cannot help."""

    def __init__(self, version: int) -> None:
        super().__init__(f"protocol version {version}, this host speaks {PROTOCOL_VERSION}")
        self.version = version


def cobs_encode(data: bytes) -> bytes:
    """COBS without the delimiter: the output holds no zero byte. Matches the firmware's streaming encoder."""
    out = bytearray()
    block = bytearray()
    for byte in data:
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(byte)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise FrameError("zero byte inside a COBS frame")
        end = i + code
        if end > n:
            raise FrameError("COBS block runs past the end of the frame")
        block = data[i + 1:end]
        if 0 in block:
            raise FrameError("zero byte inside a COBS block")
        out += block
        i = end
        if code != 255 and i < n:
            out.append(0)
    return bytes(out)


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes
    version: int = PROTOCOL_VERSION

    @property
    def msg(self) -> MsgType | int:
        try:
            return MsgType(self.type)
        except ValueError:
            return self.type


def encode_frame(type_: int, seq: int, payload: bytes = b"", *, version: int = PROTOCOL_VERSION) -> bytes:
    """Bytes on the wire for one frame, ending with the 0x00 delimiter."""
    if len(payload) > MAX_PAYLOAD_LIMIT:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD_LIMIT}-byte length field")
    body = HEADER.pack(version, type_, seq & 0xFFFF, len(payload)) + payload
    return cobs_encode(body + struct.pack("<I", zlib.crc32(body))) + b"\0"


def decode_frame(encoded: bytes) -> Frame:
    """Decodes one frame without its delimiter; raises FrameError for anything not exactly right."""
    body = cobs_decode(encoded)
    if len(body) < HEADER_BYTES + CRC_BYTES:
        raise FrameError(f"frame of {len(body)} bytes is shorter than header and CRC")
    crc, = struct.unpack_from("<I", body, len(body) - CRC_BYTES)
    if zlib.crc32(body[:-CRC_BYTES]) != crc:
        raise FrameError("CRC-32 mismatch")
    version, type_, seq, length = HEADER.unpack_from(body)
    if version != PROTOCOL_VERSION:
        raise VersionMismatch(version)
    if length != len(body) - HEADER_BYTES - CRC_BYTES:
        raise FrameError(f"header says {length} payload bytes, frame holds {len(body) - HEADER_BYTES - CRC_BYTES}")
    return Frame(type_, seq, bytes(body[HEADER_BYTES:-CRC_BYTES]), version)


def wire_size(payload_bytes: int) -> int:
    """Bytes on the wire for a frame carrying `payload_bytes` of payload with no zero bytes (worst case)."""
    body = HEADER_BYTES + payload_bytes + CRC_BYTES
    return body + body // 254 + 1 + 1


class FrameDecoder:
    """Splits a byte stream at 0x00 delimiters into frames; bad frames are counted and reported, never returned.

    `max_frame` bounds the bytes kept for one frame (longer ones are dropped as errors).
    """

    def __init__(self, max_frame: int = 2 * (MAX_PAYLOAD_LIMIT + HEADER_BYTES + CRC_BYTES)) -> None:
        self._buf = bytearray()
        self._overflow = False
        self.max_frame = max_frame
        self.errors = 0
        self.frames = 0

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        out: list[Frame | FrameError] = []
        start = 0
        while True:
            end = data.find(b"\0", start)
            if end < 0:
                self._append(data[start:])
                return out
            self._append(data[start:end])
            if self._overflow:
                self.errors += 1
                out.append(FrameError(f"frame longer than {self.max_frame} bytes"))
            elif self._buf:
                try:
                    out.append(decode_frame(bytes(self._buf)))
                    self.frames += 1
                except FrameError as e:
                    self.errors += 1
                    out.append(e)
            self._buf.clear()
            self._overflow = False
            start = end + 1

    def _append(self, chunk: bytes) -> None:
        if self._overflow:
            return
        if len(self._buf) + len(chunk) > self.max_frame:
            self._overflow = True
            self._buf.clear()
        else:
            self._buf += chunk

    def reset(self) -> None:
        self._buf.clear()
        self._overflow = False


# ---- payloads ----

_CHUNK = layout("CHUNK")
_ACK = layout("ACK")
_RESULT = layout("RESULT")
_LAYERS = layout("LAYERS")
_LAYER = layout("LAYER")
_ERROR = layout("ERROR")
_PROFILE = layout("PROFILE")
_COUNTS = layout("COUNTS")
_INFO = layout("INFO")
_INFO_SLICE = layout("INFO_SLICE")
_TENSOR = layout("TENSOR")


def chunk_payload(offset: int, data: bytes) -> bytes:
    return _CHUNK.struct.pack(offset) + data


def parse_chunk(payload: bytes) -> tuple[int, bytes]:
    _need(payload, _CHUNK.size, "INPUT")
    return _CHUNK.struct.unpack_from(payload)[0], payload[_CHUNK.size:]


def ack_payload(value: int) -> bytes:
    return _ACK.struct.pack(value)


def parse_ack(payload: bytes) -> int:
    if len(payload) != _ACK.size:
        raise FrameError(f"ACK payload of {len(payload)} bytes, expected {_ACK.size}")
    return _ACK.struct.unpack(payload)[0]


def layers_payload(layers: list[int] | None) -> bytes:
    """LAYERS request: None selects every layer, [] none."""
    if layers is None:
        return _LAYERS.struct.pack(LAYERS_ALL)
    return _LAYERS.struct.pack(len(layers)) + struct.pack(f"<{len(layers)}H", *layers)


@dataclass(frozen=True)
class ResultSlice:
    offset: int
    total: int
    count: int
    count_kind: CountKind
    data: bytes


def result_payload(offset: int, total: int, count: int, kind: int, data: bytes) -> bytes:
    return _RESULT.struct.pack(offset, total, count, kind) + data


def parse_result(payload: bytes) -> ResultSlice:
    _need(payload, _RESULT.size, "RESULT")
    offset, total, count, kind = _RESULT.struct.unpack_from(payload)
    data = payload[_RESULT.size:]
    if offset + len(data) > total:
        raise FrameError(f"RESULT slice {offset}+{len(data)} runs past its total {total}")
    return ResultSlice(offset, total, count, _enum(CountKind, kind, "count kind"), data)


@dataclass(frozen=True)
class LayerSlice:
    layer: int
    opcode: int
    offset: int
    total: int
    data: bytes


def layer_payload(layer: int, opcode: int, offset: int, total: int, data: bytes) -> bytes:
    return _LAYER.struct.pack(layer, opcode, offset, total) + data


def parse_layer(payload: bytes) -> LayerSlice:
    _need(payload, _LAYER.size, "LAYER")
    layer, opcode, offset, total = _LAYER.struct.unpack_from(payload)
    data = payload[_LAYER.size:]
    if offset + len(data) > total:
        raise FrameError(f"LAYER slice {offset}+{len(data)} runs past its total {total}")
    return LayerSlice(layer, opcode, offset, total, data)


def profile_payload(enabled: bool) -> bytes:
    """PROFILE request: per-layer counts with every following inference (True) or not (False)."""
    return _PROFILE.struct.pack(1 if enabled else 0)


@dataclass(frozen=True)
class CountsSlice:
    first: int                  # layer index of counts[0]
    total: int                  # layers in the model
    counts: tuple[int, ...]


def counts_payload(first: int, total: int, counts: list[int]) -> bytes:
    return _COUNTS.struct.pack(first, total) + struct.pack(f"<{len(counts)}Q", *counts)


def parse_counts(payload: bytes) -> CountsSlice:
    _need(payload, _COUNTS.size, "COUNTS")
    first, total = _COUNTS.struct.unpack_from(payload)
    body = payload[_COUNTS.size:]
    if len(body) % 8:
        raise FrameError(f"COUNTS payload carries {len(body)} bytes of counts, not a multiple of 8")
    n = len(body) // 8
    if first + n > total:
        raise FrameError(f"COUNTS slice {first}+{n} runs past its total {total} layers")
    return CountsSlice(first, total, struct.unpack(f"<{n}Q", body))


@dataclass(frozen=True)
class ErrorReport:
    code: int
    detail: int
    text: str

    @property
    def name(self) -> str:
        try:
            return ErrorCode(self.code).name
        except ValueError:
            return f"code {self.code}"


def error_payload(code: int, detail: int, text: str) -> bytes:
    return _ERROR.struct.pack(code, detail) + text.encode()


def parse_error(payload: bytes) -> ErrorReport:
    _need(payload, _ERROR.size, "ERROR")
    code, detail = _ERROR.struct.unpack_from(payload)
    return ErrorReport(code, detail, payload[_ERROR.size:].decode("utf-8", "replace"))


INFO_RECORD_LIMIT = 1 << 20   # an INFO record claiming more than this is corrupt (a large one is ~2 KB)


@dataclass(frozen=True)
class InfoSlice:
    offset: int
    total: int
    data: bytes


def info_slice_payload(offset: int, total: int, data: bytes) -> bytes:
    return _INFO_SLICE.struct.pack(offset, total) + data


def parse_info_slice(payload: bytes) -> InfoSlice:
    _need(payload, _INFO_SLICE.size, "INFO")
    offset, total = _INFO_SLICE.struct.unpack_from(payload)
    data = payload[_INFO_SLICE.size:]
    if offset + len(data) > total or total > INFO_RECORD_LIMIT:
        raise FrameError(f"INFO slice {offset}+{len(data)} runs past its total {total}")
    return InfoSlice(offset, total, data)


def info_frames(record: bytes, max_payload: int) -> list[bytes]:
    """The INFO record split as the firmware splits it: payloads of at most `max_payload` bytes."""
    step = max_payload - _INFO_SLICE.size
    return [info_slice_payload(off, len(record), record[off:off + step])
            for off in range(0, max(len(record), 1), step)]


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    bytes: int
    scale: float
    zero_point: int


@dataclass(frozen=True)
class DeviceInfo:
    """What the firmware says about itself in INFO."""

    protocol_version: int
    firmware_version: str
    board: str
    core: str
    clock_hz: int
    count_kind: CountKind
    build_target: BuildTarget
    model_name: str
    model_sha256: str
    model_format_version: int
    arena_bytes: int
    weights_bytes: int
    num_layers: int
    layer_hook: bool
    max_payload: int
    inputs: tuple[TensorInfo, ...] = field(default_factory=tuple)
    outputs: tuple[TensorInfo, ...] = field(default_factory=tuple)

    @property
    def input_bytes(self) -> int:
        return sum(t.bytes for t in self.inputs)

    @property
    def output_bytes(self) -> int:
        return sum(t.bytes for t in self.outputs)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise FrameError(f"INFO payload ends at byte {len(self.data)}, needed {self.pos + n}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def unpack(self, st: struct.Struct) -> tuple:
        return st.unpack(self.take(st.size))

    def string(self) -> str:
        n = self.take(1)[0]
        return self.take(n).decode("utf-8", "replace")


def parse_info(payload: bytes) -> DeviceInfo:
    """The INFO record (reassembled from its slices)."""
    r = _Reader(payload)
    fixed = dict(zip(_INFO.fields, r.unpack(_INFO.struct), strict=True))
    strings = {name: r.string() for name in INFO_STRINGS}

    def tensor() -> TensorInfo:
        rank, nbytes, scale, zero_point = r.unpack(_TENSOR.struct)
        dims = struct.unpack(f"<{rank}i", r.take(4 * rank))
        return TensorInfo(r.string(), tuple(dims), nbytes, scale, zero_point)

    inputs = tuple(tensor() for _ in range(fixed["num_inputs"]))
    outputs = tuple(tensor() for _ in range(fixed["num_outputs"]))
    if r.pos != len(payload):
        raise FrameError(f"INFO payload has {len(payload) - r.pos} trailing bytes")
    return DeviceInfo(
        protocol_version=fixed["protocol_version"], firmware_version=strings["firmware_version"],
        board=strings["board"], core=strings["core"], clock_hz=fixed["clock_hz"],
        count_kind=_enum(CountKind, fixed["count_kind"], "count kind"),
        build_target=_enum(BuildTarget, fixed["build_target"], "build target"),
        model_name=strings["model_name"], model_sha256=strings["model_sha256"],
        model_format_version=fixed["model_format_version"], arena_bytes=fixed["arena_bytes"],
        weights_bytes=fixed["weights_bytes"], num_layers=fixed["num_layers"],
        layer_hook=bool(fixed["layer_hook"]), max_payload=fixed["max_payload"], inputs=inputs, outputs=outputs)


def _need(payload: bytes, n: int, what: str) -> None:
    if len(payload) < n:
        raise FrameError(f"{what} payload of {len(payload)} bytes, needs at least {n}")


def _enum(cls, value: int, what: str):
    try:
        return cls(value)
    except ValueError:
        raise FrameError(f"unknown {what} {value}") from None
