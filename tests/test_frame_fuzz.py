"""The firmware's frame decoder and protocol server under a seeded frame fuzzer (tests/c/frame_fuzz.c),
built for the host with ASan/UBSan: no sanitizer report, every frame the server sends intact and within its
max payload, and the server still answering INFO and an inference exactly. bench/fuzz_frames.py runs the
same fuzzer for 1,000,000 frames per buffer size."""

from __future__ import annotations

import shutil
import sys
import zlib

import pytest
from conftest import ROOT, cached
from linkkit import sources_digest

sys.path.insert(0, str(ROOT / "bench"))
from fuzz_frames import HARNESS, build_fuzzer, run_fuzzer  # noqa: E402

from edgeimpro.link.protocol import ErrorCode, MsgType  # noqa: E402

pytestmark = [pytest.mark.host,
              pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc with ASan/UBSan")]


def fuzzer(max_payload: int):
    key = f"framefuzz-{max_payload}-{sources_digest()}-{zlib.crc32(HARNESS.read_bytes()):08x}"
    return cached(key, lambda d: build_fuzzer(d, max_payload)) / "frame_fuzz"


@pytest.mark.parametrize("max_payload", [64, 4096])
def test_fuzzed_frames_leave_the_server_sound(max_payload: int) -> None:
    seed = zlib.crc32(f"frame-fuzz-{max_payload}".encode())
    report = run_fuzzer(fuzzer(max_payload), seed, 60_000, check_every=500, timeout=300)
    assert report["frames"] == 60_000 and report["checks"] == 60_000 // 500 + 2
    assert report["max_payload"] == max_payload
    errors = {ErrorCode(int(k)): v for k, v in report["errors"].items()}
    # the generator reaches every error the link and the requests can cause...
    reached = {code for code, n in errors.items() if n > 0}
    assert reached >= {ErrorCode.BAD_CRC, ErrorCode.BAD_FRAMING, ErrorCode.TOO_LONG, ErrorCode.TOO_SHORT,
                       ErrorCode.BAD_LENGTH, ErrorCode.BAD_VERSION, ErrorCode.UART, ErrorCode.UNKNOWN_TYPE,
                       ErrorCode.BAD_PAYLOAD, ErrorCode.BAD_OFFSET, ErrorCode.INPUT_OVERFLOW,
                       ErrorCode.INPUT_INCOMPLETE, ErrorCode.MODEL_FAILED, ErrorCode.BAD_LAYER}, reached
    # ...and every answer kind, RESULT and LAYER included, came through the output checker
    answers = {MsgType(int(k)) for k in report["answers"]}
    assert answers == {MsgType.INFO, MsgType.ACK, MsgType.RESULT, MsgType.LAYER, MsgType.COUNTS, MsgType.ERROR}


def test_a_different_seed_is_a_different_stream() -> None:
    a = run_fuzzer(fuzzer(64), 1, 2_000, check_every=0, timeout=120)
    b = run_fuzzer(fuzzer(64), 2, 2_000, check_every=0, timeout=120)
    again = run_fuzzer(fuzzer(64), 1, 2_000, check_every=0, timeout=120)
    assert a["bytes_in"] != b["bytes_in"]
    assert (a["bytes_in"], a["errors"], a["device_bytes"]) == (again["bytes_in"], again["errors"], again["device_bytes"])
