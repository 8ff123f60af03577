"""The firmware end to end on a real board: pytest --port /dev/ttyACM0 --board nucleo-l4r5zi (skipped without).

The fixture firmware is built for the board (hardware target) and flashed through pyOCD/OpenOCD unless the
board already runs it. Counts are processor cycles (DWT CYCCNT)."""

from __future__ import annotations

import numpy as np
import pytest
from linkkit import FIXTURE_TFLITE, error_input, firmware_build, fixture_inputs, fixture_reference

from edgeimpro.boards.flash import flash_firmware
from edgeimpro.boards.registry import Board, get_board
from edgeimpro.link import CountKind, Device, DeviceError, ErrorCode, LinkError, ModelMismatchError, sha256_of
from edgeimpro.link.protocol import BuildTarget

pytestmark = pytest.mark.hardware


def _open(port: str, board: Board) -> Device:
    return Device.open(port, baudrate=board.uart_baud)   # the rate the firmware's UART was built for


@pytest.fixture(scope="module")
def device(request):
    port, name = request.config.getoption("--port"), request.config.getoption("--board")
    if not port or not name:
        pytest.skip("needs --port and --board")
    board = get_board(name)
    if not board.flash_method:
        pytest.skip(f"{name} is an emulated board")
    try:
        dev = _open(port, board)
        fresh = dev.info().model_sha256 != sha256_of(FIXTURE_TFLITE) or dev.info().board != name
    except LinkError:
        dev, fresh = None, True
    if fresh:
        if dev is not None:
            dev.close()
        flash_firmware(board, firmware_build(name, target="hardware"))
        dev = _open(port, board)
    yield dev
    dev.close()


def test_info(device: Device, request) -> None:
    info = device.info()
    assert info.board == request.config.getoption("--board")
    assert info.count_kind == CountKind.CYCLES and info.build_target == BuildTarget.HARDWARE


def test_twenty_round_trips_exact_with_cycles(device: Device) -> None:
    rng = np.random.default_rng(30)
    inputs = [fixture_inputs(rng) for _ in range(20)]
    cycles = []
    for x in inputs:
        r = device.infer(x)
        for got, want in zip(r.outputs, fixture_reference(*x)[0], strict=True):
            np.testing.assert_array_equal(got, want)
        assert r.cycles is not None and r.instructions is None
        cycles.append(r.cycles)
    again = [device.infer(x).cycles for x in inputs[:5]]
    for a, b in zip(again, cycles[:5], strict=True):
        assert abs(a - b) <= 0.01 * b                      # caches and flash wait states: close, not exact


def test_layers(device: Device) -> None:
    x = fixture_inputs(np.random.default_rng(31))
    _, layers = fixture_reference(*x)
    r = device.layers(x)
    for k, want in layers.items():
        np.testing.assert_array_equal(r.layers[k].data, want)


def test_error_path_garbage_and_hash_refusal(device: Device, tmp_path) -> None:
    with pytest.raises(DeviceError) as e:
        device.infer(error_input())
    assert e.value.report.code == ErrorCode.MODEL_FAILED
    device.transport.write(bytes(np.random.default_rng(32).integers(0, 256, 2000, np.uint8)) + b"\0")
    x = fixture_inputs(np.random.default_rng(33))
    np.testing.assert_array_equal(device.infer(x).outputs[0], fixture_reference(*x)[0][0])
    other = tmp_path / "other.tflite"
    other.write_bytes(b"another model")
    with pytest.raises(ModelMismatchError, match="flash"):
        device.check_model(other)
