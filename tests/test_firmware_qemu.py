"""The firmware end to end on the emulated boards (QEMU), with the fixture model: HELLO/INFO, 20 exact
round trips, instruction counts repeatable across runs, LAYER, the ERROR paths, the model-hash refusal,
garbage on the line, a HardFault, fault injection over the socket, and the `emulate` verb."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from linkkit import (
    FIXTURE_TFLITE,
    QEMU_BOARDS,
    calibration_input,
    error_input,
    fault_input,
    firmware_build,
    fixture_inputs,
    fixture_reference,
    stack_overflow_input,
)

from edgeimpro.link import (
    CountKind,
    Device,
    DeviceError,
    ErrorCode,
    LinkError,
    ModelMismatchError,
    Timeouts,
)
from edgeimpro.link.emulator import Emulator
from edgeimpro.link.faults import FaultyTransport
from edgeimpro.link.protocol import BuildTarget

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                       reason="needs qemu-system-arm and arm-none-eabi-gcc (scripts/setup.sh)"),
]

BOARD_PARAMS = [pytest.param(b, marks=pytest.mark.xdist_group(f"qemu-{b}")) for b in QEMU_BOARDS]
# QEMU moves ~25 KB/s host to guest (one byte per main-loop turn): the per-board builds use a 16x16x3 image
SMALL = ("EIP_FIXTURE_SIDE=16",)
SIDE = 16
FIXTURE_SHA = "c143c035950b4d45569030f107f5871af0c6ea2cf14584d649c930bfd1d1d436"


def assert_outputs(result, expected) -> None:
    for got, want in zip(result.outputs, expected, strict=True):
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@pytest.fixture(scope="module", params=BOARD_PARAMS)
def emulated(request):
    board = request.param
    with Emulator(board, firmware_build(board, SMALL)) as emu:
        yield emu


def test_hello_info(emulated: Emulator) -> None:
    info = emulated.device.info(refresh=True)
    board = emulated.board
    # the clock the firmware runs at: the stm32f405 QEMU build skips the clock set-up and keeps HSI's 16 MHz
    clock = 16_000_000 if board.name == "stm32f405" else board.clock_hz
    assert (info.board, info.core, info.clock_hz) == (board.name, board.core, clock)
    assert info.count_kind == CountKind.INSTRUCTIONS and info.build_target == BuildTarget.QEMU
    assert (info.model_name, info.model_sha256, info.num_layers) == ("fixture", FIXTURE_SHA, 4)
    assert [t.shape for t in info.inputs] == [(1, SIDE, SIDE, 3), (1, 10)]


def test_twenty_round_trips_exact_with_repeatable_instruction_counts(emulated: Emulator) -> None:
    rng = np.random.default_rng(10)
    inputs = [fixture_inputs(rng, SIDE) for _ in range(20)]
    before = emulated.device.stats.copy()   # (a HELLO at boot may need a resend: STM32 drops bytes before UE)
    counts = []
    for x in inputs:
        r = emulated.device.infer(x)
        assert_outputs(r, fixture_reference(*x)[0])
        assert r.instructions is not None and r.cycles is None
        counts.append(r.instructions)
    assert min(counts) > 2_000
    assert len(set(counts)) > 1                         # the fixture's max-pool is data dependent
    # the same inputs in a second QEMU process: the same instruction counts, exactly
    with Emulator(emulated.board, emulated.elf) as again:
        assert [again.device.infer(x).instructions for x in inputs[:5]] == counts[:5]
    assert [emulated.device.infer(x).instructions for x in inputs[:3]] == counts[:3]
    assert emulated.device.stats.since(before).retries == 0


def test_instruction_count_is_exact(emulated: Emulator) -> None:
    """A loop of 2 x 1,000,000 x k instructions: the counts of k = 1 and k = 3 differ by exactly 4,000,000
    (to one SysTick tick of rounding at each end), so the board's clock constant and -icount agree."""
    one = emulated.device.infer(calibration_input(1, SIDE)).instructions
    three = emulated.device.infer(calibration_input(3, SIDE)).instructions
    per_tick = -(-1_000_000_000 // emulated.board.clock_hz)
    assert abs((three - one) - 4_000_000) <= 2 * per_tick
    assert 2_000_000 <= one <= 2_000_000 + 2_000


def test_layers(emulated: Emulator) -> None:
    x = fixture_inputs(np.random.default_rng(11), SIDE)
    outputs, layers = fixture_reference(*x)
    r = emulated.device.layers(x)
    for k, want in layers.items():
        np.testing.assert_array_equal(r.layers[k].data, want)
    assert_outputs(r, outputs)
    plain = emulated.device.infer(x)
    # time spent sending layer frames is taken out of the count: what remains is the hook's own bookkeeping
    # and one counter tick of rounding per layer
    assert abs(r.instructions - plain.instructions) <= 0.01 * plain.instructions + 4 * 120


def test_error_path_and_recovery(emulated: Emulator) -> None:
    with pytest.raises(DeviceError) as e:
        emulated.device.infer(error_input(SIDE))
    assert e.value.report.code == ErrorCode.MODEL_FAILED
    t = emulated.device.transport
    rng = np.random.default_rng(12)
    t.write(bytes(rng.integers(0, 256, 3000, np.uint8)) + b"\0")      # garbage on the line
    t.write(b"\xff" * 6000 + b"\0")                                    # an oversize frame
    x = fixture_inputs(rng, SIDE)
    assert_outputs(emulated.device.infer(x), fixture_reference(*x)[0])
    assert emulated.returncode() is None


def test_model_hash_refusal(emulated: Emulator, tmp_path) -> None:
    emulated.device.check_model(FIXTURE_TFLITE)
    other = tmp_path / "other.tflite"
    other.write_bytes(b"not the fixture")
    with pytest.raises(ModelMismatchError, match=f"holds model 'fixture'.*{emulated.board.name}|"
                                                 f"{emulated.board.name}.*holds model 'fixture'") as e:
        emulated.open_device(model=other)
    assert f"edgeimpro emulate --board {emulated.board.name}" in str(e.value)
    emulated.open_device(model=FIXTURE_TFLITE)


@pytest.mark.xdist_group("qemu-qemu-m4")
def test_hard_fault_is_reported_and_ends_qemu_with_exit_code_1() -> None:
    elf = firmware_build("qemu-m4", ("EIP_FIXTURE_FAULT",))
    with Emulator("qemu-m4", elf) as emu:
        x = fixture_inputs(np.random.default_rng(13))
        assert_outputs(emu.device.infer(x), fixture_reference(*x)[0])
        with pytest.raises(DeviceError) as e:
            emu.device.infer(fault_input())
        assert e.value.report.code == ErrorCode.FAULT
        assert emu.wait(10) == 1
        assert "code 1" in emu.exit_summary()


@pytest.mark.xdist_group("qemu-stm32f405")
def test_stack_overflow_is_reported_not_a_lockup() -> None:
    """The stack ends at the bottom of RAM: an overflow faults, and the handler reports it from a fresh stack
    (on the overflowed one it would fault again and lock the core up: QEMU exit 134, a dead board)."""
    elf = firmware_build("stm32f405", ("EIP_FIXTURE_FAULT",))
    with Emulator("stm32f405", elf) as emu:
        with pytest.raises(DeviceError) as e:
            emu.device.infer(stack_overflow_input())
        assert e.value.report.code == ErrorCode.FAULT
        assert emu.wait(10) == 1, emu.exit_summary()


@pytest.mark.xdist_group("qemu-stm32f405")
def test_fault_injection_over_the_emulated_uart() -> None:
    """512-byte frames: every input crosses the STM32 USART in acknowledged INPUT chunks, outputs in slices."""
    with Emulator("stm32f405", firmware_build("stm32f405", ("EIP_LINK_MAX_PAYLOAD=512",))) as emu:
        assert emu.device.info().max_payload == 512
        faulty = FaultyTransport(emu.device.transport, flip=5e-5, drop=5e-5, duplicate=5e-5, seed=7)
        dev = Device(faulty, timeouts=Timeouts(hello=0.5, ack=2.0, invoke=3.0, frame=1.0), retries=8,
                     url=emu.url)
        rng = np.random.default_rng(14)
        ok = 0
        for _ in range(10):
            x = fixture_inputs(rng)
            try:
                r = dev.infer(x)
            except LinkError:
                continue
            assert_outputs(r, fixture_reference(*x)[0])
            ok += 1
        assert faulty.counts["write"].total + faulty.counts["read"].total > 0
        assert dev.stats.retries > 0 and ok >= 8


@pytest.mark.xdist_group("qemu-qemu-m55")
def test_emulate_verb_serves_a_url_and_stops_on_ctrl_c() -> None:
    build = firmware_build("qemu-m55", SMALL)
    proc = subprocess.Popen([sys.executable, "-m", "edgeimpro.cli.main", "emulate", str(build)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or not lines[-1].startswith("socket://"):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line.strip())
        assert "qemu-m55" in lines[0] and "fixture" in lines[0]
        with Device.open(lines[-1], model=FIXTURE_TFLITE) as dev:
            x = fixture_inputs(np.random.default_rng(15), SIDE)
            assert_outputs(dev.infer(x), fixture_reference(*x)[0])
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.xdist_group("qemu-qemu-m4")
def test_qemu_dies_with_a_sigkilled_parent() -> None:
    """A `compare` killed with SIGKILL cannot stop QEMU itself: the kernel must (PR_SET_PDEATHSIG)."""
    import os
    import time

    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux-only")
    build = firmware_build("qemu-m4", SMALL)
    script = ("import sys, time\n"
              "from edgeimpro.link.emulator import Emulator\n"
              "emu = Emulator('qemu-m4', sys.argv[1]).start()\n"
              "print(emu.proc.pid, flush=True)\n"
              "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(build)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    qemu_pid = None
    try:
        line = proc.stdout.readline()
        assert line.strip().isdigit(), proc.stderr.read()
        qemu_pid = int(line)
        os.kill(qemu_pid, 0)                                  # QEMU runs...
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(qemu_pid, 0)
            except ProcessLookupError:
                break                                         # ...and is gone with its parent
            try:                                              # reaped by init; a zombie counts as gone
                with open(f"/proc/{qemu_pid}/stat") as f:
                    if f.read().split(") ")[1].startswith("Z"):
                        break
            except FileNotFoundError:
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"QEMU (pid {qemu_pid}) survived its SIGKILLed parent")
        qemu_pid = None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if qemu_pid is not None:
            os.kill(qemu_pid, signal.SIGKILL)
