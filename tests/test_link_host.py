"""The firmware's protocol server compiled for the host (ASan + UBSan) behind a pipe: Device end to end,
error paths, fault injection, and random / mutated frames fed to the frame decoder."""

from __future__ import annotations

import time

import numpy as np
import pytest
from linkkit import (
    FIXTURE_TFLITE,
    PipeTransport,
    error_input,
    fixture_inputs,
    fixture_reference,
    host_device_binary,
)

from edgeimpro.errors import EdgeImproError
from edgeimpro.link import (
    PROTOCOL_VERSION,
    Device,
    DeviceError,
    ErrorCode,
    LinkError,
    ModelMismatchError,
    MsgType,
    Timeouts,
    codec,
)
from edgeimpro.link.faults import FaultyTransport

pytestmark = pytest.mark.host

FAST = Timeouts(boot=10, hello=0.5, ack=0.5, invoke=2, frame=0.5)


@pytest.fixture
def device():
    transport = PipeTransport(host_device_binary())
    dev = Device(transport, timeouts=FAST)
    yield dev
    assert transport.close() == 0, transport.stderr_text()


def raw_exchange(transport: PipeTransport, data: bytes, want: int, timeout: float = 5.0) -> list:
    """Writes raw bytes, returns the next `want` items (frames or FrameErrors) the device answers."""
    transport.write(data)
    dec, items, end = codec.FrameDecoder(), [], time.monotonic() + timeout
    while len(items) < want and time.monotonic() < end:
        items += dec.feed(transport.read(4096))
    return items


def assert_outputs(result, expected) -> None:
    assert len(result.outputs) == len(expected)
    for got, want in zip(result.outputs, expected, strict=True):
        assert got.dtype == np.int8 and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_info_describes_the_model(device: Device) -> None:
    info = device.info()
    assert (info.model_name, info.num_layers, info.layer_hook, info.max_payload) == ("fixture", 4, True, 4096)
    assert [t.shape for t in info.inputs] == [(1, 32, 32, 3), (1, 10)]
    assert [t.shape for t in info.outputs] == [(1, 8), (1, 16, 16, 3)]
    assert info.inputs[0].scale == 0.5 and info.inputs[1].zero_point == 3
    assert info.model_sha256 == "c143c035950b4d45569030f107f5871af0c6ea2cf14584d649c930bfd1d1d436"


def test_twenty_inferences_exact(device: Device) -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = fixture_inputs(rng)
        assert_outputs(device.infer(x), fixture_reference(*x)[0])
    s = device.stats
    assert s.retries == 0 and s.corrupt_frames == 0
    assert s.input_bytes / s.bytes_sent >= 0.98          # measured wire efficiency, 3,082-byte inputs


def test_layers_all_and_chosen(device: Device) -> None:
    x = fixture_inputs(np.random.default_rng(1))
    outputs, layers = fixture_reference(*x)
    r = device.layers(x)
    assert sorted(r.layers) == [0, 1, 2, 3]
    for k, want in layers.items():
        np.testing.assert_array_equal(r.layers[k].data, want)
    assert [r.layers[k].opcode for k in range(4)] == [3, 17, 9, 25]
    assert_outputs(r, outputs)
    r = device.layers(x, [2])
    assert list(r.layers) == [2]
    assert device.infer(x).layers == {}                  # the selection is cleared afterwards


def test_model_error_is_reported_and_the_device_goes_on(device: Device) -> None:
    with pytest.raises(DeviceError) as e:
        device.infer(error_input())
    assert e.value.report.code == ErrorCode.MODEL_FAILED and "out of range" in e.value.report.text
    x = fixture_inputs(np.random.default_rng(2))
    assert_outputs(device.infer(x), fixture_reference(*x)[0])


def test_model_hash_refusal(device: Device, tmp_path) -> None:
    device.check_model(FIXTURE_TFLITE)
    other = tmp_path / "cats.tflite"
    other.write_bytes(b"another model")
    with pytest.raises(ModelMismatchError) as e:
        device.check_model(other)
    msg = str(e.value)
    assert "holds model 'fixture'" in msg and "c143c035950b" in msg and "cats.tflite" in msg
    assert "edgeimpro build --board host --model" in msg


def test_wrong_input_is_refused_before_sending(device: Device) -> None:
    x = fixture_inputs(np.random.default_rng(3))
    with pytest.raises(EdgeImproError, match="must be int8"):
        device.infer([x[0].astype(np.int16), x[1]])
    with pytest.raises(EdgeImproError, match="takes 2 inputs"):
        device.infer(x[0])
    with pytest.raises(EdgeImproError, match="shape"):
        device.infer([x[0][:, :16], x[1]])


def test_trace_hexdumps_frames() -> None:
    lines: list[str] = []
    transport = PipeTransport(host_device_binary())
    dev = Device(transport, timeouts=FAST, trace=lines.append)
    dev.info()
    assert lines[0].startswith("-> HELLO seq=1") and "0000  00 " in lines[0]
    assert lines[1].startswith("<- <MsgType.INFO: 2> seq=1")
    assert transport.close() == 0


def test_protocol_errors_answered(device: Device) -> None:
    t = device.transport
    info = device.info()
    assert info.input_bytes < info.max_payload - 4
    cases = [
        (codec.encode_frame(0x55, 11, b""), ErrorCode.UNKNOWN_TYPE, 11),
        (codec.encode_frame(MsgType.INPUT, 12, codec.chunk_payload(100, b"x")), ErrorCode.BAD_OFFSET, 12),
        (codec.encode_frame(MsgType.INPUT, 13, codec.chunk_payload(0, b"x" * (info.max_payload - 3))),
         ErrorCode.TOO_LONG, 0xFFFF),
        (codec.encode_frame(MsgType.INPUT, 14, codec.chunk_payload(0, b"x" * 4000)), ErrorCode.INPUT_OVERFLOW, 14),
        (codec.encode_frame(MsgType.INVOKE, 15, codec.chunk_payload(0, b"x" * 10)), ErrorCode.INPUT_INCOMPLETE, 15),
        (codec.encode_frame(MsgType.INPUT, 16, b"ab"), ErrorCode.BAD_PAYLOAD, 16),
        (codec.encode_frame(MsgType.LAYERS, 17, codec.layers_payload([4])), ErrorCode.BAD_LAYER, 17),
        (codec.encode_frame(MsgType.HELLO, 18, version=PROTOCOL_VERSION + 1), ErrorCode.BAD_VERSION, 18),
        (codec.cobs_encode(b"\x01\x01\x13\x00\x00\x00" + b"\xde\xad\xbe\xef") + b"\0", ErrorCode.BAD_CRC, 0xFFFF),
        (b"\x05\x01\x02\0", ErrorCode.BAD_FRAMING, 0xFFFF),
        (b"\x03\x01\x02\0", ErrorCode.TOO_SHORT, 0xFFFF),
        (b"\xff" * 5000 + b"\0", ErrorCode.TOO_LONG, 0xFFFF),
    ]
    for wire, code, seq in cases:
        items = raw_exchange(t, wire, 1)
        assert len(items) == 1 and isinstance(items[0], codec.Frame), (code, items)
        assert items[0].type == MsgType.ERROR and items[0].seq == seq
        report = codec.parse_error(items[0].payload)
        assert report.code == code, (code, report)
        assert report.text                                   # every error carries its text
    x = fixture_inputs(np.random.default_rng(4))
    assert_outputs(device.infer(x), fixture_reference(*x)[0])


def test_random_and_mutated_frames_never_break_the_decoder() -> None:
    """ASan/UBSan build: random bytes, mutated valid frames, oversize and truncated frames, each followed by
    a HELLO with its own sequence number, which must always be answered with INFO."""
    rng = np.random.default_rng(5)
    valid = [codec.encode_frame(MsgType.INPUT, 1, codec.chunk_payload(0, bytes(rng.integers(0, 256, 200, np.uint8)))),
             codec.encode_frame(MsgType.LAYERS, 2, codec.layers_payload([1, 2])),
             codec.encode_frame(MsgType.INVOKE, 3, codec.chunk_payload(0, b""))]
    transport = PipeTransport(host_device_binary())
    answered = 0
    for i in range(300):
        kind = i % 4
        if kind == 0:
            junk = bytes(rng.integers(0, 256, int(rng.integers(1, 600)), np.uint8))
        elif kind == 1:
            junk = bytearray(valid[i % len(valid)][:-1])
            for _ in range(int(rng.integers(1, 4))):
                junk[int(rng.integers(0, len(junk)))] = int(rng.integers(0, 256))
            junk = bytes(junk)
        elif kind == 2:
            junk = valid[i % len(valid)][: int(rng.integers(1, 20))]
        else:
            junk = bytes(rng.integers(1, 256, int(rng.integers(4100, 9000)), np.uint8))
        seq = 1000 + i
        transport.write(junk + b"\0" + codec.encode_frame(MsgType.HELLO, seq))
        dec, deadline = codec.FrameDecoder(), time.monotonic() + 5
        while time.monotonic() < deadline:
            items = dec.feed(transport.read(65536))
            if any(isinstance(f, codec.Frame) and f.type == MsgType.INFO and f.seq == seq for f in items):
                answered += 1
                break
            # frames the device sends are always intact, whatever it was fed
            assert not any(isinstance(f, codec.FrameError) for f in items)
    assert answered == 300
    assert transport.close() == 0, transport.stderr_text()


@pytest.mark.parametrize("seed", [1, 2])
def test_fault_injection_never_returns_a_wrong_output(seed: int) -> None:
    transport = PipeTransport(host_device_binary())
    faulty = FaultyTransport(transport, flip=5e-5, drop=5e-5, duplicate=5e-5, delay=2e-5, max_delay=0.02, seed=seed)
    dev = Device(faulty, timeouts=Timeouts(boot=10, hello=0.2, ack=0.2, invoke=0.5, frame=0.2), retries=8)
    faulty.enabled = False
    dev.info()
    faulty.enabled = True
    rng = np.random.default_rng(seed)
    ok = 0
    for _ in range(60):
        x = fixture_inputs(rng)
        try:
            r = dev.infer(x)
        except LinkError:
            continue                                 # giving up is allowed; a wrong answer is not
        assert_outputs(r, fixture_reference(*x)[0])
        ok += 1
    injected = faulty.counts["write"].total + faulty.counts["read"].total
    assert injected > 20
    assert dev.stats.corrupt_frames + dev.stats.link_errors > 10    # the damage was seen...
    assert dev.stats.retries > 10                                   # ...and cured by resending
    assert ok >= 50
    faulty.enabled = False
    x = fixture_inputs(rng)
    assert_outputs(dev.infer(x), fixture_reference(*x)[0])
    assert transport.close() == 0, transport.stderr_text()


def test_small_frames_chunk_inputs_outputs_and_layers() -> None:
    """With a 128-byte receive buffer every message spans many frames, in both directions."""
    transport = PipeTransport(host_device_binary(("EIP_LINK_MAX_PAYLOAD=128",)))
    dev = Device(transport, timeouts=FAST)
    assert dev.info().max_payload == 128
    rng = np.random.default_rng(6)
    for _ in range(3):
        x = fixture_inputs(rng)
        outputs, layers = fixture_reference(*x)
        r = dev.layers(x)
        assert_outputs(r, outputs)
        for k, want in layers.items():
            np.testing.assert_array_equal(r.layers[k].data, want)
    assert dev.stats.frames_sent > 3 * (3082 // 124)
    assert transport.close() == 0, transport.stderr_text()


def test_build_without_layer_hook_says_so() -> None:
    transport = PipeTransport(host_device_binary(layer_hook=False, sanitize=False))
    dev = Device(transport, timeouts=FAST)
    assert dev.info().layer_hook is False
    x = fixture_inputs(np.random.default_rng(7))
    with pytest.raises(LinkError, match="without the layer hook"):
        dev.layers(x)
    items = raw_exchange(transport, codec.encode_frame(MsgType.LAYERS, 5, codec.layers_payload(None)), 1)
    assert codec.parse_error(items[0].payload).code == ErrorCode.NO_LAYER_HOOK
    assert_outputs(dev.infer(x), fixture_reference(*x)[0])
    assert transport.close() == 0, transport.stderr_text()


class RecordingTransport:
    """Passes everything through and decodes every byte the device sends, to check each frame."""

    def __init__(self, inner: PipeTransport) -> None:
        self.inner, self.decoder, self.frames = inner, codec.FrameDecoder(), []
        self.timeout, self.portstr, self.in_waiting = inner.timeout, inner.portstr, 0

    def write(self, data: bytes) -> int:
        return self.inner.write(data)

    def read(self, n: int = 1) -> bytes:
        data = self.inner.read(n)
        self.frames += self.decoder.feed(data)
        return data

    def reset_input_buffer(self) -> None:
        pass

    def close(self) -> int:
        return self.inner.close()


def test_every_frame_the_device_sends_fits_its_max_payload() -> None:
    """At the smallest receive buffer (64 B) INFO (~190 B), RESULT, LAYER and ERROR all arrive in frames of at
    most 64 payload bytes, and the host reassembles INFO from its slices."""
    transport = RecordingTransport(PipeTransport(host_device_binary(("EIP_LINK_MAX_PAYLOAD=64",))))
    dev = Device(transport, timeouts=FAST)
    info = dev.info()
    assert info.max_payload == 64 and info.model_sha256 == "c143c035950b4d45569030f107f5871af0c6ea2cf14584d649c930bfd1d1d436"
    info_frames = [f for f in transport.frames if isinstance(f, codec.Frame) and f.type == MsgType.INFO]
    assert len(info_frames) >= 3                                   # the record is > 2 x 56 bytes
    x = fixture_inputs(np.random.default_rng(23))
    outputs, layers = fixture_reference(*x)
    r = dev.layers(x)
    assert_outputs(r, outputs)
    for k, want in layers.items():
        np.testing.assert_array_equal(r.layers[k].data, want)
    with pytest.raises(DeviceError):
        dev.infer(error_input())
    for wire in (codec.encode_frame(0x55, 40, b""), b"\x05\x01\x02\0", b"\xff" * 300 + b"\0",
                 codec.encode_frame(MsgType.LAYERS, 41, codec.layers_payload([9])),
                 codec.encode_frame(MsgType.HELLO, 42)):
        # every answer through the one recording decoder: a read can end inside a frame, and a second
        # decoder would take that frame's tail for a corrupt frame (the test failed ~1 run in 3 that way)
        before, end = len(transport.frames), time.monotonic() + 5.0
        transport.write(wire)
        while len(transport.frames) == before and time.monotonic() < end:
            transport.read(4096)
    transport.read(65536)
    frames = [f for f in transport.frames if isinstance(f, codec.Frame)]
    assert not [f for f in transport.frames if isinstance(f, codec.FrameError)]
    assert {MsgType.INFO, MsgType.ACK, MsgType.LAYER, MsgType.RESULT, MsgType.ERROR} <= {f.type for f in frames}
    assert max(len(f.payload) for f in frames) <= 64, sorted({(f.msg, len(f.payload)) for f in frames})
    assert transport.close() == 0, transport.inner.stderr_text()


def test_more_layers_than_one_frame_can_name_are_selected_all_and_filtered() -> None:
    import dataclasses

    transport = PipeTransport(host_device_binary())
    dev = Device(transport, timeouts=FAST)
    dev._info = dataclasses.replace(dev.info(), max_payload=7)   # LAYERS [0, 1, 2] takes 8 bytes
    x = fixture_inputs(np.random.default_rng(24))
    outputs, layers = fixture_reference(*x)
    r = dev.layers(x, [0, 1, 2])
    assert_outputs(r, outputs)
    assert sorted(r.layers) == [0, 1, 2]
    for k in (0, 1, 2):
        np.testing.assert_array_equal(r.layers[k].data, layers[k])
    assert transport.close() == 0, transport.stderr_text()
