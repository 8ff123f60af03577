"""The real boards' code measured without the boards (issue 11): the hardware firmware's own machine code runs
in an instruction emulator (unicorn) against a model of the registers it touches; the compile-time checks
are made to fire; INFO's clock is read from QEMU; the flash error names the pyOCD pack.

- the cycle counter comes back on at every start after pyOCD left DEMCR = 0;
- the clock set-up writes the bus prescalers before it switches SYSCLK, and the clock the board reports is
  the one it runs at (the registry's after the set-up, the reset clock without it);
- a fault before the UART is clocked still ends in a system reset (every transmit wait is bounded);
- a baud rate the UART cannot make, or a registry clock the set-up does not reach, fails the build;
- `--baud` (else the board's registry uart_baud, the firmware's rate) reaches pyserial."""

from __future__ import annotations

import dataclasses
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from linkkit import firmware_build

from edgeimpro.boards.build import board_config_header
from edgeimpro.boards.flash import FlashError, flash_firmware
from edgeimpro.boards.registry import Board, get_board
from edgeimpro.cli.main import main
from edgeimpro.firmware import firmware_dir

REAL_BOARDS = ("stm32f405", "nucleo-l4r5zi")
needs_toolchain = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")

DEMCR, DWT_CTRL, DWT_LAR, SCB_AIRCR = 0xE000EDFC, 0xE0001000, 0xE0001FB0, 0xE000ED0C
TRCENA, CYCCNTENA = 1 << 24, 1 << 0
# RM0090 (F405) and RM0432 (L4R5): RCC_CR and RCC_CFGR addresses, the oscillator on/ready bit pairs the
# set-up polls, the CFGR prescaler fields (HPRE, PPRE1, PPRE2) and their values after the set-up.
RCC = {
    "stm32f405": dict(cr=0x40023800, cfgr=0x40023808, ready={0: 1, 24: 25}, prescalers=0xFCF0,
                      after=(5 << 10) | (4 << 13), uart_brr=0x40011008, uart_clock=84_000_000,
                      reset_clock=16_000_000),
    "nucleo-l4r5zi": dict(cr=0x40021000, cfgr=0x40021008, ready={8: 10, 24: 25}, prescalers=0x3FF0,
                          after=0, uart_brr=0x4000800C, uart_clock=256 * 16_000_000, reset_clock=4_000_000),
}


def hardware_elf(board: str, defines: tuple[str, ...] = ()) -> Path:
    return firmware_build(board, defines, target="hardware") / "firmware.elf"


class Machine:
    """A hardware build loaded into unicorn: flash, SRAM, the peripherals and the system control space as
    plain memory, with RCC's ready flags answering what the code switched on."""

    RETURN = 0x0800_0000   # an address no function returns to: the emulation stops there

    def __init__(self, board: str, elf: Path) -> None:
        uc_mod = pytest.importorskip("unicorn", reason="needs unicorn (pip install unicorn)")
        from unicorn.arm_const import UC_ARM_REG_LR, UC_ARM_REG_SP

        self.uc_mod, self.facts = uc_mod, RCC[board]
        nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
        self.syms = {f[2]: int(f[0], 16) for f in (line.split() for line in nm.splitlines()) if len(f) == 3}
        binary = elf.with_suffix(".bin").read_bytes()
        uc = uc_mod.Uc(uc_mod.UC_ARCH_ARM, uc_mod.UC_MODE_THUMB | uc_mod.UC_MODE_MCLASS)
        uc.mem_map(0x0800_0000, 4 << 20)
        uc.mem_write(0x0800_0000, binary)
        uc.mem_map(0x2000_0000, 1 << 20)
        uc.mem_map(0x4000_0000, 0x3_0000)      # APB1, APB2, AHB1 (RCC, PWR, FLASH, GPIOA, USART1, LPUART1)
        uc.mem_map(0x4800_0000, 0x2000)        # AHB2 GPIO (port G)
        uc.mem_map(0xE000_0000, 1 << 20)       # DWT, SysTick, SCB
        data = self.syms["__data_start"], self.syms["__data_end"], self.syms["__data_load"]
        uc.mem_write(data[0], binary[data[2] - 0x0800_0000:data[2] - 0x0800_0000 + data[1] - data[0]])
        uc.reg_write(UC_ARM_REG_SP, self.syms["__stack_top"])
        uc.reg_write(UC_ARM_REG_LR, self.RETURN | 1)
        self.uc, self.writes = uc, []
        uc.hook_add(uc_mod.UC_HOOK_MEM_READ, self._on_read)
        uc.hook_add(uc_mod.UC_HOOK_MEM_WRITE, self._on_write)

    def read32(self, addr: int) -> int:
        return struct.unpack("<I", self.uc.mem_read(addr, 4))[0]

    def write32(self, addr: int, value: int) -> None:
        self.uc.mem_write(addr, struct.pack("<I", value))

    def _on_read(self, uc, access, addr, size, value, user) -> None:
        if addr == self.facts["cr"]:
            cr = self.read32(addr)
            for on, ready in self.facts["ready"].items():
                cr = cr | (1 << ready) if cr & (1 << on) else cr
            self.write32(addr, cr)
        elif addr == self.facts["cfgr"]:   # SWS follows SW at once
            cfgr = self.read32(addr)
            self.write32(addr, (cfgr & ~0xC) | ((cfgr & 3) << 2))

    def _on_write(self, uc, access, addr, size, value, user) -> None:
        self.writes.append((addr, value))
        if addr == SCB_AIRCR:
            uc.emu_stop()

    def call(self, function: str, max_instructions: int = 1_000_000) -> None:
        self.uc.emu_start(self.syms[function] | 1, self.RETURN, count=max_instructions)

    def writes_to(self, addr: int) -> list[int]:
        return [v for a, v in self.writes if a == addr]


@needs_toolchain
@pytest.mark.parametrize("board", REAL_BOARDS)
def test_counter_start_turns_the_cycle_counter_back_on_after_pyocd_cleared_demcr(board: str) -> None:
    m = Machine(board, hardware_elf(board))
    m.call("eip_board_init")
    assert m.read32(DEMCR) & TRCENA and m.read32(DWT_CTRL) & CYCCNTENA
    m.write32(DEMCR, 0)          # what pyOCD writes when it disconnects after `pyocd flash`
    m.write32(DWT_CTRL, 0)
    m.call("eip_counter_start")
    assert m.read32(DEMCR) & TRCENA, "CYCCNT stays stopped: every count would read 0"
    assert m.read32(DWT_CTRL) & CYCCNTENA
    assert m.read32(DWT_LAR) == 0xC5ACCE55   # the Cortex-M7 lock key


@needs_toolchain
@pytest.mark.parametrize("board", REAL_BOARDS)
def test_clock_setup_sets_prescalers_before_switching_and_reports_the_clock_it_reached(board: str) -> None:
    facts, registry = RCC[board], get_board(board)
    m = Machine(board, hardware_elf(board))
    assert m.read32(m.syms["eip_board_clock_hz"]) == facts["reset_clock"]   # before the set-up runs
    m.call("eip_board_init")
    cfgr = [0, *m.writes_to(facts["cfgr"])]
    switches = [i for i in range(1, len(cfgr)) if (cfgr[i] ^ cfgr[i - 1]) & 3]
    assert switches, "SYSCLK was never switched"
    for i in switches:   # the write that switches SYSCLK leaves the prescalers as an earlier write set them
        assert (cfgr[i] ^ cfgr[i - 1]) & facts["prescalers"] == 0, f"CFGR write {i}: {cfgr[i]:#x}"
    assert cfgr[-1] & facts["prescalers"] == facts["after"]
    assert m.read32(m.syms["eip_board_clock_hz"]) == registry.clock_hz
    assert m.read32(facts["uart_brr"]) == round(facts["uart_clock"] / registry.uart_baud)


@needs_toolchain
@pytest.mark.parametrize("board", REAL_BOARDS)
def test_without_clock_setup_the_board_reports_its_reset_clock(board: str) -> None:
    m = Machine(board, hardware_elf(board, ("EIP_BOARD_CLOCK_SETUP=0",)))
    m.call("eip_board_init")
    assert m.writes_to(RCC[board]["cfgr"]) == []
    assert m.read32(m.syms["eip_board_clock_hz"]) == RCC[board]["reset_clock"]


@needs_toolchain
@pytest.mark.parametrize("board", REAL_BOARDS)
def test_a_fault_before_the_uart_is_clocked_still_resets(board: str) -> None:
    """The UART reads 0 (not clocked): the fault report's transmit waits give up and AIRCR is written."""
    m = Machine(board, hardware_elf(board))
    m.call("Fault_Handler", max_instructions=200_000_000)
    assert m.writes_to(SCB_AIRCR) == [0x05FA0004]   # VECTKEY | SYSRESETREQ


def _compile_board_c(tmp_path: Path, board: Board, target: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "eip_board_config.h").write_text(board_config_header(board, target))
    fw = firmware_dir()
    return subprocess.run(["arm-none-eabi-gcc", *board.cpu_flags, "-std=c11", "-Wall", "-Wextra", "-Werror",
                           "-fsyntax-only", f"-I{tmp_path}", f"-I{fw / 'boards' / 'common'}",
                           str(fw / "boards" / board.support_dir / "board.c")],
                          capture_output=True, text=True)


@needs_toolchain
def test_uart_rates_the_uart_cannot_make_fail_the_build(tmp_path: Path) -> None:
    l4r5 = get_board("nucleo-l4r5zi")
    assert _compile_board_c(tmp_path, l4r5, "hardware").returncode == 0
    for baud in (2_400, 6_000_000):   # LPUART BRR 1,706,667 > 0xFFFFF; 682 < 0x300
        proc = _compile_board_c(tmp_path, dataclasses.replace(l4r5, uart_baud=baud), "hardware")
        assert proc.returncode != 0 and "0x300..0xFFFFF" in proc.stderr
    f405 = get_board("stm32f405")
    assert _compile_board_c(tmp_path, dataclasses.replace(f405, uart_baud=921_600), "hardware").returncode == 0
    proc = _compile_board_c(tmp_path, dataclasses.replace(f405, uart_baud=6_000_000), "hardware")
    assert proc.returncode != 0 and "BRR outside 16..0xFFFF" in proc.stderr


@needs_toolchain
@pytest.mark.parametrize("board", REAL_BOARDS)
def test_a_registry_clock_the_setup_does_not_reach_fails_the_build(tmp_path: Path, board: str) -> None:
    proc = _compile_board_c(tmp_path, dataclasses.replace(get_board(board), clock_hz=80_000_000), "hardware")
    assert proc.returncode != 0 and "must reach the registry's clock_hz" in proc.stderr


@pytest.mark.qemu
@needs_toolchain
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm")
@pytest.mark.xdist_group("qemu-stm32f405")
def test_stm32f405_on_qemu_reports_the_16_mhz_it_runs_at_without_clock_setup() -> None:
    """The QEMU build keeps the reset clock (QEMU's RCC never sets PLLRDY): INFO says HSI's 16 MHz, not 168."""
    from edgeimpro.link.emulator import Emulator

    with Emulator("stm32f405", firmware_build("stm32f405", ("EIP_FIXTURE_SIDE=16",))) as emu:
        assert emu.device.info(refresh=True).clock_hz == 16_000_000


PYOCD_UNKNOWN_TARGET = ("0001042 C Target type {target} not recognized. Use 'pyocd list --targets' to see currently "
                        "available target types. See <https://pyocd.io/docs/target_support.html> for how to "
                        "install additional target support. [__main__]")


@pytest.mark.unit
@pytest.mark.parametrize(("board", "target"), [("stm32f405", "stm32f405rg"), ("nucleo-l4r5zi", "stm32l4r5zitx")])
def test_a_target_pyocd_lacks_names_the_pack_to_install(tmp_path: Path, monkeypatch, board: str,
                                                        target: str) -> None:
    fake = tmp_path / "bin" / "pyocd"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho \"{PYOCD_UNKNOWN_TARGET.format(target=target)}\"\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "firmware.elf").write_bytes(b"\x7fELF")
    with pytest.raises(FlashError, match=f"does not know target {target}") as e:
        flash_firmware(board, tmp_path, tool="pyocd")
    assert f"pyocd pack install {target}" in e.value.hint


@pytest.mark.unit
def test_flash_help_names_the_packs(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["flash", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "pyocd pack install stm32f405rg" in help_text and "pyocd pack install stm32l4r5zitx" in help_text


class _RecordingSerial:
    """serial.serial_for_url that records the rate it was asked for and finds no port."""

    def __init__(self) -> None:
        self.baudrates: list[int] = []

    def __call__(self, url: str, *args, baudrate: int = 9600, **kwargs):
        import serial

        self.baudrates.append(baudrate)
        raise serial.SerialException(f"{url}: no such port (test)")


TINY_TFLITE = Path(__file__).parent / "fixtures" / "golden" / "tiny.tflite"   # input (1, 8, 8, 3) int8


@pytest.fixture
def inputs_npy(tmp_path: Path) -> Path:
    import numpy as np

    path = tmp_path / "x.npy"
    np.save(path, np.zeros((1, 8, 8, 3), np.int8))
    return path


@pytest.mark.unit
def test_baud_option_reaches_the_serial_port(monkeypatch, tmp_path: Path, inputs_npy: Path) -> None:
    import serial

    fake = _RecordingSerial()
    monkeypatch.setattr(serial, "serial_for_url", fake)
    code = main(["run", str(TINY_TFLITE), "--inputs", str(inputs_npy), "--port", "/dev/ttyNONE",
                 "--baud", "57600", "-o", str(tmp_path / "y.npz")])
    assert code != 0 and fake.baudrates == [57600]


@pytest.mark.unit
def test_without_baud_the_port_opens_at_the_boards_registry_rate(monkeypatch, tmp_path: Path,
                                                                  inputs_npy: Path) -> None:
    """The firmware's UART runs at the registry's uart_baud (eip_board_config.h): the host defaults to it."""
    import serial

    from edgeimpro.boards.registry import BOARDS, DEFAULT_UART_BAUD

    board = dataclasses.replace(get_board("nucleo-l4r5zi"), uart_baud=230_400)
    monkeypatch.setitem(BOARDS, board.name, board)
    assert f"#define EIP_BOARD_UART_BAUD {board.uart_baud}u" in board_config_header(board, "hardware")
    fake = _RecordingSerial()
    monkeypatch.setattr(serial, "serial_for_url", fake)
    argv = ["run", str(TINY_TFLITE), "--inputs", str(inputs_npy), "--port", "/dev/ttyNONE",
            "-o", str(tmp_path / "y.npz")]
    main([*argv, "--on", board.name])
    main(argv)   # no board named: the registry's common default
    assert fake.baudrates == [230_400, DEFAULT_UART_BAUD]
