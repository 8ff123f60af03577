"""Firmware build: board facts as generated C and linker memory, fit refusal with numbers, hardware builds,
the firmware's own size, and the build / flash verbs' errors."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import ROOT, cached
from linkkit import FIXTURE_DIR, sources_digest

from edgeimpro.boards.build import board_config_header, build_firmware, memory_ld, resolve_target
from edgeimpro.boards.flash import flash_firmware
from edgeimpro.boards.registry import BOARDS, get_board
from edgeimpro.cli.main import main
from edgeimpro.errors import BoardFitError, UsageError

NULL_MODEL = ROOT / "tests" / "fixtures" / "null_model"
needs_toolchain = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(BOARDS))
def test_board_facts_become_c_macros_and_linker_memory(name: str) -> None:
    board = get_board(name)
    target = "qemu" if board.qemu_machine else "hardware"
    header = board_config_header(board, target)
    assert f'#define EIP_BOARD_NAME "{name}"' in header
    assert f"#define EIP_BOARD_CLOCK_HZ {board.clock_hz}u" in header
    assert f"#define EIP_BOARD_BUILD_TARGET_QEMU {int(target == 'qemu')}" in header
    ld = memory_ld(board)
    assert f"LENGTH = {board.ram_bytes}" in ld and f"ORIGIN = 0x{board.flash_origin:08X}" in ld


@pytest.mark.unit
def test_stm32f405_links_against_the_real_chip_not_qemu() -> None:
    assert "LENGTH = 131072" in memory_ld(get_board("stm32f405"))    # QEMU maps 192 KB; the chip has 128 KB


@pytest.mark.unit
def test_targets_are_checked() -> None:
    assert resolve_target(get_board("stm32f405"), None) == "qemu"
    assert resolve_target(get_board("nucleo-l4r5zi"), None) == "hardware"
    with pytest.raises(UsageError, match="no QEMU model"):
        resolve_target(get_board("nucleo-l4r5zi"), "qemu")
    with pytest.raises(UsageError, match="only in QEMU"):
        resolve_target(get_board("qemu-m4"), "hardware")


@pytest.mark.unit
def test_flash_errors_are_clear(tmp_path) -> None:
    with pytest.raises(UsageError, match="emulated by QEMU.*nothing to flash") as e:
        flash_firmware("qemu-m4", tmp_path)
    assert "edgeimpro emulate --board qemu-m4" in e.value.hint
    with pytest.raises(UsageError, match="no firmware at"):
        flash_firmware("stm32f405", tmp_path / "missing.elf")
    (tmp_path / "firmware.elf").write_bytes(b"\x7fELF")
    (tmp_path / "size.json").write_text(json.dumps({"board": "stm32f405", "target": "qemu"}))
    with pytest.raises(UsageError, match="built for QEMU"):
        flash_firmware("stm32f405", tmp_path)
    (tmp_path / "size.json").write_text(json.dumps({"board": "qemu-m4", "target": "qemu"}))
    with pytest.raises(UsageError, match="built for qemu-m4"):
        flash_firmware("nucleo-l4r5zi", tmp_path)


@pytest.mark.unit
def test_build_refuses_a_folder_without_model_code(tmp_path) -> None:
    with pytest.raises(UsageError, match="no model.h and model.c") as e:
        build_firmware("qemu-m4", tmp_path, tmp_path / "out")
    assert "export" in e.value.hint


@pytest.mark.qemu
@needs_toolchain
def test_a_model_too_big_for_the_board_is_refused_with_numbers(tmp_path) -> None:
    with pytest.raises(BoardFitError) as e:
        build_firmware("stm32f405", FIXTURE_DIR, tmp_path, ["EIP_FIXTURE_SIDE=160"], jobs=2)
    msg = str(e.value)
    assert "RAM" in msg and "board stm32f405 has 131,072 B" in msg
    needed = int(msg.split("RAM ")[1].split(" B needed")[0].replace(",", ""))
    assert needed > 131_072 + 40_000                       # the 2 x 76,800-byte fixture arena
    assert "nucleo-l4r5zi" in e.value.hint and "qemu-m4" in e.value.hint


@pytest.mark.qemu
@needs_toolchain
@pytest.mark.parametrize("board,target", [("qemu-m4", "qemu"), ("qemu-m7", "qemu"), ("qemu-m55", "qemu"),
                                          ("stm32f405", "qemu"), ("stm32f405", "hardware"),
                                          ("nucleo-l4r5zi", "hardware")])
def test_firmware_without_a_model_is_small(board: str, target: str) -> None:
    out = cached(f"fw-null-{board}-{target}-{sources_digest(NULL_MODEL)}", lambda d: build_firmware(board, NULL_MODEL, d, target=target, jobs=2))
    size = json.loads((out / "size.json").read_text())
    assert (size["board"], size["target"]) == (board, target)
    assert size["flash_used"] < 8 * 1024                    # app, protocol, UART, counter, start-up
    assert size["sections"][".bss"] < 5 * 1024              # mostly the 4 KB receive buffer
    assert size["ram_used"] == size["sections"][".bss"] + size["sections"][".stack"] + size["sections"].get(".data", 0)
    for f in ("firmware.elf", "firmware.bin", "firmware.hex"):
        assert (out / f).stat().st_size > 0


@pytest.mark.qemu
@needs_toolchain
def test_build_verb_prints_json(tmp_path, capsys) -> None:
    assert main(["build", "--board", "qemu-m55", "--model-dir", str(NULL_MODEL), "-o", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["board"] == "qemu-m55" and report["flash_total"] == 512 * 1024
    assert main(["build", "--board", "qemu-m4", "--model-dir", str(tmp_path / "nothing"), "-o",
                 str(tmp_path / "b")]) == 2
