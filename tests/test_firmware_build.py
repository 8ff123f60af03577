"""Firmware build: board facts as generated C and linker memory, fit refusal with numbers, hardware builds,
the firmware's own size, the build / flash verbs' errors, and the build folder as untrusted ground: paths
with spaces and '#', a user's folder refused, all-or-nothing writes, one build at a time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, cached
from linkkit import FIXTURE_DIR, sources_digest

from edgeimpro.boards.build import (
    BUILD_MARKER,
    board_config_header,
    build_firmware,
    build_lock,
    memory_ld,
    resolve_target,
)
from edgeimpro.boards.flash import flash_firmware
from edgeimpro.boards.registry import BOARDS, get_board
from edgeimpro.cli.main import main
from edgeimpro.errors import BoardFitError, EdgeImproError, UsageError

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
@pytest.mark.parametrize("board,target", [(b.name, "qemu") for b in BOARDS.values() if b.qemu_machine]
                         + [(b.name, "hardware") for b in BOARDS.values() if b.flash_method])
def test_firmware_without_a_model_is_small(board: str, target: str) -> None:
    out = cached(f"fw-null-{board}-{target}-{sources_digest(NULL_MODEL)}", lambda d: build_firmware(board, NULL_MODEL, d, target=target, jobs=2))
    size = json.loads((out / "size.json").read_text())
    assert (size["board"], size["target"]) == (board, target)
    assert size["flash_used"] < 8 * 1024                    # app, protocol, UART, counter, start-up
    assert size["sections"][".bss"] < 5 * 1024              # mostly the 4 KB receive buffer
    assert size["ram_used"] == size["sections"][".bss"] + size["sections"][".stack"] + size["sections"].get(".data", 0)
    # the code split by owner (bench prints it): without a model it is the protocol and board code
    parts = size["code_parts"]
    code = sum(size["sections"].get(s, 0) for s in (".vectors", ".text", ".ARM.exidx"))
    assert parts["firmware"] > parts["runtime"] and 0 <= code - sum(parts.values()) < 64
    # the tick conversion multiplies and shifts: no 64-bit division from libgcc (0.7 KiB)
    assert "__udivmoddi4" not in (out / "firmware.map").read_text()
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


# ---- the build folder ----

FIXTURE_SHA = "c143c035950b4d45569030f107f5871af0c6ea2cf14584d649c930bfd1d1d436"
HOSTILE = "out dir #2 $x 'q"             # a space, '#', '$' and a quote: make and the shell's worst cases


def model_copy(where, sha: str = FIXTURE_SHA):
    """The fixture model in a folder whose name has a space and '#', stamped with `sha`."""
    where.mkdir(parents=True)
    for f in ("model.c", "model.h"):
        shutil.copy(FIXTURE_DIR / f, where / f)
    header = where / "model.h"
    header.write_text(header.read_text().replace(FIXTURE_SHA, sha))
    return where


def tree(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()}


@pytest.mark.qemu
@needs_toolchain
@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="needs qemu-system-arm")
def test_paths_with_spaces_and_hash_build_run_and_rebuild_by_hand(tmp_path) -> None:
    import numpy as np
    from linkkit import fixture_inputs, fixture_reference

    from edgeimpro.link.emulator import Emulator

    model = model_copy(tmp_path / "my models #1")
    out = tmp_path / "a b#c" / HOSTILE
    build_firmware("qemu-m4", model, out, ["EIP_FIXTURE_SIDE=16"], jobs=2)
    assert "src/model" in (out / "config.mk").read_text() and str(tmp_path) not in (out / "config.mk").read_text()
    with Emulator("qemu-m4", out) as emu:
        assert emu.device.info().model_sha256 == FIXTURE_SHA
        x = fixture_inputs(np.random.default_rng(21), 16)
        for got, want in zip(emu.device.infer(x).outputs, fixture_reference(*x)[0], strict=True):
            np.testing.assert_array_equal(got, want)
    assert subprocess.run(["make", "-C", str(out), "-q"]).returncode == 0     # by hand: up to date
    (model / "model.c").touch()
    assert subprocess.run(["make", "-C", str(out), "-q"]).returncode == 1     # ...and it sees the model change
    assert subprocess.run(["make", "-C", str(out)], capture_output=True).returncode == 0


@pytest.mark.host
def test_host_build_with_spaces_and_hash_in_every_path(tmp_path) -> None:
    import numpy as np
    from linkkit import PipeTransport, fixture_inputs, fixture_reference

    from edgeimpro.boards.build import build_host_firmware
    from edgeimpro.link import Device

    model = model_copy(tmp_path / "my models #1")
    binary = build_host_firmware(model, tmp_path / HOSTILE, sanitize=False)
    transport = PipeTransport(binary)
    dev = Device(transport)
    assert dev.info().model_sha256 == FIXTURE_SHA
    x = fixture_inputs(np.random.default_rng(22))
    for got, want in zip(dev.infer(x).outputs, fixture_reference(*x)[0], strict=True):
        np.testing.assert_array_equal(got, want)
    assert transport.close() == 0


@pytest.mark.host
def test_run_on_host_with_spaces_in_the_cache_and_temp_paths(tmp_path, monkeypatch) -> None:
    import tempfile

    import numpy as np

    from edgeimpro.graph.loader import load_graph
    from edgeimpro.run import run_host

    tiny = ROOT / "tests" / "fixtures" / "golden" / "tiny.tflite"
    cache, temp = tmp_path / "cache #1 $x", tmp_path / "tmp dir 'q"
    temp.mkdir()
    monkeypatch.setenv("EDGEIMPRO_CACHE", str(cache))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    graph = load_graph(tiny)
    x = np.zeros((2, *graph.input_tensors[0].shape), np.int8)
    result = run_host(tiny, [x])
    assert result.outputs["output_0"].shape[0] == 2
    assert list(cache.rglob("runner"))                    # built in the cache under the hostile path


@needs_toolchain
def test_a_users_folder_is_refused_and_left_untouched(tmp_path) -> None:
    proj = tmp_path / "project"
    proj.mkdir()
    (proj / "Makefile").write_text("all:\n\techo my own build\n")
    (proj / "config.mk").write_text("MINE := 1\n")
    before = tree(proj)
    with pytest.raises(UsageError, match="not written by `edgeimpro build`"):
        build_firmware("qemu-m4", FIXTURE_DIR, proj)
    assert tree(proj) == before and sorted(os.listdir(proj)) == ["Makefile", "config.mk"]
    assert main(["build", "--board", "qemu-m4", "--model-dir", str(FIXTURE_DIR), "-o", str(proj)]) == 2
    assert tree(proj) == before
    assert os.listdir(tmp_path) == ["project"]                  # no lock file, no partial folder beside it


@pytest.mark.unit
def test_defines_make_cannot_carry_are_refused(tmp_path) -> None:
    for bad in ("X=a b", "X=$(shell id)", "X='q'", "X=1#2", "1X"):
        with pytest.raises(UsageError, match="cannot be passed through make"):
            build_firmware("qemu-m4", FIXTURE_DIR, tmp_path / "out", [bad])
    assert not (tmp_path / "out").exists()


@pytest.mark.qemu
@needs_toolchain
def test_a_failed_build_leaves_the_previous_firmware_intact(tmp_path) -> None:
    out = tmp_path / HOSTILE
    build_firmware("stm32f405", FIXTURE_DIR, out, ["EIP_FIXTURE_SIDE=16"], jobs=2)
    good = tree(out)
    assert json.loads(good[BUILD_MARKER])["model_sha256"] == FIXTURE_SHA
    with pytest.raises(BoardFitError):                                   # the model outgrows the board
        build_firmware("stm32f405", FIXTURE_DIR, out, ["EIP_FIXTURE_SIDE=160"], jobs=2)
    assert tree(out) == good
    with pytest.raises(EdgeImproError, match="failed") as e:              # a compile error
        build_firmware("stm32f405", FIXTURE_DIR, out, ["EIP_LINK_MAX_PAYLOAD=10"], jobs=2)
    assert "EIP_LINK_MAX_PAYLOAD" in str(e.value) and "left as it was" in e.value.hint
    assert tree(out) == good
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([HOSTILE, f".{HOSTILE}.lock"])   # no leftovers


@needs_toolchain
def test_a_build_into_a_locked_folder_is_refused(tmp_path) -> None:
    out = tmp_path / "build"
    with build_lock(out):
        with pytest.raises(UsageError, match=f"another edgeimpro build \\(pid {os.getpid()}\\) is writing"):
            build_firmware("qemu-m4", FIXTURE_DIR, out)
    assert not out.exists()


@pytest.mark.qemu
@needs_toolchain
def test_two_concurrent_builds_into_one_folder_never_both_claim_it(tmp_path) -> None:
    """Two `edgeimpro build` of two models into one folder at once: the firmware left there is the model of
    a build that reported success, and a build that did not get the folder says so."""
    shas = {"a": "a" * 64, "b": "b" * 64}
    models = {k: model_copy(tmp_path / f"model {k}", sha) for k, sha in shas.items()}
    out = tmp_path / "shared build"
    procs = {k: subprocess.Popen([sys.executable, "-m", "edgeimpro.cli.main", "build", "--board", "qemu-m4",
                                  "--model-dir", str(m), "-o", str(out), "-D", "EIP_FIXTURE_SIDE=16", "--json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k, m in models.items()}
    results = {k: (p.wait(120), p.stdout.read(), p.stderr.read()) for k, p in procs.items()}
    ok = [k for k, (code, _, _) in results.items() if code == 0]
    assert ok, results
    for code, _, err in results.values():
        if code != 0:
            assert code == 2 and "another edgeimpro build" in err, err
    elf = (out / "firmware.elf").read_bytes()
    inside = [k for k, sha in shas.items() if sha.encode() in elf]
    assert len(inside) == 1 and inside[0] in ok
    assert json.loads((out / BUILD_MARKER).read_text())["model_sha256"] == shas[inside[0]]


@pytest.mark.qemu
@needs_toolchain
def test_build_from_a_tflite_exports_into_the_folder_and_rebuilds_incrementally(tmp_path, capsys) -> None:
    import hashlib

    tiny = ROOT / "tests" / "fixtures" / "golden" / "tiny.tflite"
    out = tmp_path / HOSTILE
    assert main(["build", "--board", "qemu-m4", "--model", str(tiny), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "exported" in printed and "'" in printed.splitlines()[-1]       # the path is quoted for the shell
    marker = json.loads((out / BUILD_MARKER).read_text())
    assert marker["model_sha256"] == hashlib.sha256(tiny.read_bytes()).hexdigest()
    assert (out / "model" / "model.c").is_file() and not (out / "src" / "model").exists()
    objects = {p: p.stat().st_mtime_ns for p in (out / "obj").rglob("*.o")}
    assert main(["build", "--board", "qemu-m4", "--model", str(tiny), "-o", str(out)]) == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "obj").rglob("*.o")} == objects   # nothing recompiled


@pytest.mark.qemu
@needs_toolchain
def test_emulated_firmware_cache_under_a_hostile_path(tmp_path) -> None:
    from edgeimpro.targets import emulated_firmware

    tiny = ROOT / "tests" / "fixtures" / "golden" / "tiny.tflite"
    build = emulated_firmware(tiny, "qemu-m4", cache=tmp_path / "cache #1 $x 'q")
    assert (build / "firmware.elf").is_file()
    assert json.loads((build / "size.json").read_text())["board"] == "qemu-m4"


def test_perturb_layer_option_is_checked_and_announced(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """`build --perturb-layer N` (the broken-firmware drill): N must be one of the model's layers; the
    build says loudly what it did. test_compare_qemu runs the drill end to end."""
    from conftest import mlperf_model

    kws = str(mlperf_model("kws"))                      # 13 layers
    assert main(["build", "--board", "qemu-m4", "--model", kws, "--perturb-layer", "13",
                 "-o", str(tmp_path / "bad")]) == UsageError.exit_code
    err = capsys.readouterr().err
    assert "--perturb-layer 13 is not a layer of the model (it has layers 0 to 12)" in err
    assert not (tmp_path / "bad").exists()
    assert main(["build", "--board", "qemu-m4", "--model", kws, "--perturb-layer", "3",
                 "-o", str(tmp_path / "fw")]) == 0
    assert "WARNING: this firmware corrupts layer 3's output on purpose" in capsys.readouterr().out
    assert "EIP_TEST_PERTURB_LAYER=3" in (tmp_path / "fw" / "config.mk").read_text()


def test_kernel_sets_follow_the_core(tmp_path) -> None:
    """Each core builds the best kernel set it runs by default; a set the core cannot run is refused with the
    ones it can, before anything is written."""
    from edgeimpro.boards.build import resolve_kernels

    assert resolve_kernels(get_board("qemu-m55"), None) == "mve"
    assert resolve_kernels(get_board("qemu-m4"), None) == "dsp"
    assert resolve_kernels(get_board("qemu-m55"), "dsp") == "dsp"
    with pytest.raises(UsageError) as e:
        resolve_kernels(get_board("qemu-m4"), "mve")
    assert "Helium" in str(e.value) and "--kernels dsp" in (e.value.hint or "")
    out = tmp_path / "fw"
    assert main(["build", "--model", str(ROOT / "tests" / "fixtures" / "golden" / "tiny.tflite"), "--board", "qemu-m4",
                 "--kernels", "mve", "-o", str(out)]) != 0
    assert not out.exists()


def test_firmware_mk_chains_the_kernel_folders_as_the_exporter_does() -> None:
    """firmware.mk's KERNEL_CHAIN_<set> lists, in order, the folders package.VARIANT_DIRS gives each set (the
    build and the exporter must pick the same file for every op), and names no set the exporter lacks."""
    import re

    from edgeimpro.boards.build import KERNEL_VARIANTS
    from edgeimpro.codegen.package import VARIANT_DIRS
    from edgeimpro.firmware import firmware_dir

    text = (firmware_dir() / "firmware.mk").read_text()
    chains = {m[1]: tuple(m[2].split()) for m in re.finditer(r"^KERNEL_CHAIN_(\w+)\s*:=\s*(.*)$", text, re.M)}
    assert chains == VARIANT_DIRS
    assert set(KERNEL_VARIANTS) == {"reference", *VARIANT_DIRS}
