"""Frame codec: COBS and frame round trips, corruption detection, payload layouts, the generated C header."""

from __future__ import annotations

import subprocess
import sys
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeimpro.link import codec
from edgeimpro.link.bench import input_wire_bytes
from edgeimpro.link.codec import (
    Frame,
    FrameDecoder,
    FrameError,
    cobs_decode,
    cobs_encode,
    decode_frame,
    encode_frame,
)
from edgeimpro.link.protocol import (
    DEFAULT_MAX_PAYLOAD,
    HEADER_BYTES,
    CountKind,
    ErrorCode,
    MsgType,
    c_header_path,
    render_c_header,
)

pytestmark = pytest.mark.unit


@given(st.binary(max_size=2000))
def test_cobs_round_trip_has_no_zero(data: bytes) -> None:
    enc = cobs_encode(data)
    assert 0 not in enc
    assert cobs_decode(enc) == data
    assert len(enc) <= len(data) + len(data) // 254 + 1


@given(st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.binary(max_size=5000))
def test_frame_round_trip(type_: int, seq: int, payload: bytes) -> None:
    wire = encode_frame(type_, seq, payload)
    assert wire.endswith(b"\0") and wire.count(0) == 1
    frame = decode_frame(wire[:-1])
    assert (frame.type, frame.seq, frame.payload) == (type_, seq, payload)


@settings(max_examples=40)
@given(st.binary(min_size=0, max_size=300), st.data())
def test_every_single_bit_flip_is_detected(payload: bytes, data: st.DataObject) -> None:
    wire = bytearray(encode_frame(MsgType.RESULT, 7, payload)[:-1])
    pos = data.draw(st.integers(0, len(wire) - 1))
    wire[pos] ^= 1 << data.draw(st.integers(0, 7))
    dec = FrameDecoder()
    items = dec.feed(bytes(wire) + b"\0")
    # a flip may create a 0x00 and split the frame: then every piece must be rejected
    assert items and all(isinstance(i, FrameError) for i in items)


@given(st.binary(max_size=400), st.integers(1, 50))
def test_truncated_frames_are_rejected(payload: bytes, cut: int) -> None:
    wire = encode_frame(MsgType.INFO, 1, payload)[:-1]
    cut = min(cut, len(wire) - 1)
    with pytest.raises(FrameError):
        decode_frame(wire[:-cut])


def test_decoder_resynchronizes_after_garbage() -> None:
    good = [encode_frame(MsgType.ACK, i, codec.ack_payload(i * 10)) for i in range(5)]
    stream = b"\x13\x37garbage\0" + good[0] + b"\xff" * 300 + b"\0" + good[1] + good[2][:7] + b"\0" + good[3] + good[4]
    dec = FrameDecoder()
    items = []
    for k in range(0, len(stream), 5):           # arbitrary chunking
        items += dec.feed(stream[k:k + 5])
    frames = [i for i in items if isinstance(i, Frame)]
    assert [f.seq for f in frames] == [0, 1, 3, 4]
    assert dec.errors == 3


def test_decoder_bounds_an_endless_frame() -> None:
    dec = FrameDecoder(max_frame=1000)
    assert dec.feed(b"\x01" * 5000) == []
    items = dec.feed(b"\0" + encode_frame(MsgType.ACK, 9, codec.ack_payload(1)))
    assert isinstance(items[0], FrameError) and isinstance(items[1], Frame)


def test_version_mismatch_is_its_own_error() -> None:
    with pytest.raises(codec.VersionMismatch):
        decode_frame(encode_frame(MsgType.HELLO, 1, version=9)[:-1])


def test_length_field_must_match() -> None:
    body = bytearray(encode_frame(MsgType.ACK, 1, b"abcd")[:-1])
    raw = bytearray(cobs_decode(bytes(body)))
    raw[4] = 3                                      # length field says 3, frame holds 4
    raw[-4:] = zlib.crc32(bytes(raw[:-4])).to_bytes(4, "little")
    with pytest.raises(FrameError, match="header says 3"):
        decode_frame(cobs_encode(bytes(raw)))


def test_payload_layouts_round_trip() -> None:
    r = codec.parse_result(codec.result_payload(8, 20, 123456789012, CountKind.INSTRUCTIONS, b"x" * 12))
    assert (r.offset, r.total, r.count, r.count_kind, r.data) == (8, 20, 123456789012, CountKind.INSTRUCTIONS, b"x" * 12)
    lay = codec.parse_layer(codec.layer_payload(3, 17, 0, 4, b"abcd"))
    assert (lay.layer, lay.opcode, lay.total, lay.data) == (3, 17, 4, b"abcd")
    err = codec.parse_error(codec.error_payload(ErrorCode.BAD_CRC, -5, "frame CRC-32 mismatch"))
    assert (err.name, err.detail, err.text) == ("BAD_CRC", -5, "frame CRC-32 mismatch")
    assert codec.parse_chunk(codec.chunk_payload(4092, b"zz")) == (4092, b"zz")
    with pytest.raises(FrameError):
        codec.parse_result(codec.result_payload(18, 20, 0, 1, b"xyz"))   # slice past its total
    with pytest.raises(FrameError):
        codec.parse_ack(b"\x01\x02")


def test_info_slices_reassemble_and_are_checked() -> None:
    record = bytes(range(256)) * 2
    payloads = codec.info_frames(record, 64)
    assert len(payloads) == 10 and max(map(len, payloads)) == 64
    slices = [codec.parse_info_slice(p) for p in payloads]
    assert b"".join(s.data for s in slices) == record and {s.total for s in slices} == {512}
    with pytest.raises(FrameError, match="runs past"):
        codec.parse_info_slice(codec.info_slice_payload(510, 512, b"abc"))
    with pytest.raises(FrameError):
        codec.parse_info_slice(b"\x00" * 7)


def test_info_rejects_truncation() -> None:
    with pytest.raises(FrameError):
        codec.parse_info(b"\x01" * 10)


def test_checked_in_c_header_is_generated_from_the_table() -> None:
    assert c_header_path().read_text() == render_c_header(), \
        "regenerate it: python -m edgeimpro.link.protocol"


def test_header_size_is_what_the_efficiency_needs() -> None:
    assert HEADER_BYTES == 6


@pytest.mark.parametrize("n", [1024, 1025, 3082, 4092, 4093, 27648, 150528])
def test_wire_efficiency_at_least_98_percent_for_inputs_of_1kb_and_more(n: int) -> None:
    cost = input_wire_bytes(n, DEFAULT_MAX_PAYLOAD)
    assert cost.efficiency >= 0.98
    assert cost.efficiency_with_acks >= 0.98


def test_link_never_imports_tensorflow() -> None:
    code = ("import sys, edgeimpro.link, edgeimpro.link.emulator, edgeimpro.link.bench, edgeimpro.link.faults\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tflite_micro')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)
