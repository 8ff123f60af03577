"""QEMU as a board: start the firmware on an emulated machine and talk to it over a TCP serial port.

    with Emulator("qemu-m4", "build/") as emu:        # waits until the firmware answers HELLO
        result = emu.device.infer(x)                  # result.instructions: deterministic under -icount

The serial port is `-serial tcp:127.0.0.1:PORT,server=on,wait=on,nodelay=on`: QEMU holds the guest until the
first client connects, so nothing the firmware says is lost. After that client disconnects QEMU accepts the
next one (the `emulate` verb uses this: it checks HELLO, lets go, and prints the socket:// URL).
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from edgeimpro.boards.registry import Board, get_board
from edgeimpro.errors import DependencyError, EdgeImproError, ExitCode, UsageError
from edgeimpro.link.device import Device, LinkError, Timeouts, open_transport

QEMU = "qemu-system-arm"
ICOUNT = "shift=0,align=off,sleep=off"   # one instruction = 1 ns of virtual time: SysTick counts instructions
SEMIHOSTING_EXIT_CODES = {0: "firmware exited normally", 1: "firmware stopped on a fault (HardFault handler)",
                          134: "the CPU locked up (a fault inside the fault handler)"}

# QEMU has no real-time guarantee: on a loaded host (CI running two emulators beside builds) one 8 KiB INPUT
# chunk has been seen to take over 2 s to ACK. Emulated links get more slack than a real board's defaults;
# a lost frame still ends in a resend, only later.
EMULATED_TIMEOUTS = Timeouts(ack=10.0, frame=10.0)


class EmulatorError(EdgeImproError):
    """QEMU could not start, or stopped, or the firmware in it never answered."""

    exit_code = ExitCode.EMULATOR


PR_SET_PDEATHSIG = 1   # linux/prctl.h


def child_death_hook() -> Callable[[], None] | None:
    """`preexec_fn` that ties a child process's life to this one, or None where that is not possible.

    Linux only (prctl PR_SET_PDEATHSIG), so a SIGKILLed `compare` leaves no QEMU behind. The signal fires
    when the *thread* that started the child ends, so it is set only when starting from the main thread; a
    QEMU started from another thread outlives a SIGKILL of Python (it still stops on `Emulator.stop()`).
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl   # looked up here: the child only calls it
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def die_with_parent() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:   # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return die_with_parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def resolve_firmware(path: str | Path) -> Path:
    """A build folder (its firmware.elf) or an .elf file."""
    p = Path(path)
    elf = p / "firmware.elf" if p.is_dir() else p
    if not elf.is_file():
        raise UsageError(f"no firmware at {elf}",
                         hint="build it first: edgeimpro build --board qemu-m4 --model-dir MODEL_DIR -o BUILD_DIR")
    return elf


def _built_for(elf: Path) -> dict:
    size = elf.parent / "size.json"
    try:
        return json.loads(size.read_text()) if size.is_file() else {}
    except (OSError, ValueError):
        return {}


class Emulator:
    """One QEMU process running one firmware; a context manager with clean teardown."""

    def __init__(self, board: str | Board, firmware: str | Path, *, port: int | None = None, icount: bool = True,
                 boot_timeout: float = 15.0, timeouts: Timeouts | None = None, qemu: str = QEMU,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.board = board if isinstance(board, Board) else get_board(board)
        if not self.board.qemu_machine:
            raise UsageError(f"board {self.board.name} has no QEMU model",
                             hint=f"flash it instead: edgeimpro flash --board {self.board.name} firmware.elf")
        self.elf = resolve_firmware(firmware)
        built = _built_for(self.elf)
        if built.get("board") not in (None, self.board.name):
            raise UsageError(f"{self.elf} was built for {built['board']}, not {self.board.name}",
                             hint=f"use --board {built['board']}, or rebuild for {self.board.name}")
        if built.get("target") == "hardware":
            raise UsageError(f"{self.elf} was built for real hardware (clock set-up, DWT): QEMU would hang",
                             hint=f"rebuild with: edgeimpro build --board {self.board.name} --target qemu ...")
        self.requested_port = port
        self.port = port or 0
        self.icount = icount
        self.boot_timeout = boot_timeout
        self.timeouts = timeouts or EMULATED_TIMEOUTS
        self.qemu = qemu
        self.extra_args = extra_args
        self.proc: subprocess.Popen | None = None
        self.device: Device | None = None
        self._stderr = None

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [self.qemu, "-M", self.board.qemu_machine, "-kernel", str(self.elf), "-display", "none",
               "-monitor", "none", "-serial", f"tcp:127.0.0.1:{self.port},server=on,wait=on,nodelay=on",
               "-semihosting-config", "enable=on,target=native"]
        if self.icount:
            cmd += ["-icount", ICOUNT]
        return cmd + list(self.extra_args)

    def start(self) -> Emulator:
        """Starts QEMU, connects and waits for the firmware's INFO; `self.device` is then ready."""
        if shutil.which(self.qemu) is None:
            raise DependencyError(f"{self.qemu} not found on PATH",
                                  hint="scripts/setup.sh installs it (Debian: apt-get install qemu-system-arm)")
        for attempt in range(5):
            if not self.requested_port:
                self.port = free_port()
            self._stderr = tempfile.TemporaryFile()
            # its own session: a Ctrl-C in the terminal reaches Python, which then stops QEMU cleanly
            # and it dies with this process, even on SIGKILL (Linux: PR_SET_PDEATHSIG)
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=self._stderr,
                                         stderr=self._stderr, start_new_session=True,
                                         preexec_fn=child_death_hook())
            transport = self._connect()
            if transport is not None:
                break
            text = self.stderr_text()
            self.stop()
            if self.requested_port or "in use" not in text.lower() or attempt == 4:
                raise EmulatorError(f"QEMU did not start for {self.board.name}: {text.strip()[-800:]}",
                                    hint=f"command: {' '.join(self.command())}")
        self.device = Device(transport, timeouts=self._boot_timeouts(), url=self.url)
        try:
            self.device.info()
        except LinkError as e:
            self.stop()
            raise EmulatorError(f"the firmware in QEMU {self.board.qemu_machine} never answered HELLO: "
                                f"{e.message}; {self.exit_summary()}",
                                hint="check that the ELF was built for this board with the qemu target") from None
        self.device.timeouts = self.timeouts
        return self

    def _boot_timeouts(self) -> Timeouts:
        return dataclasses.replace(self.timeouts, boot=self.boot_timeout)

    def _connect(self):
        """The first client connection (QEMU holds the guest until it exists), or None if QEMU died."""
        deadline = time.monotonic() + self.boot_timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return None
            try:
                return open_transport(self.url)
            except LinkError:
                time.sleep(0.02)
        return None

    def release(self) -> None:
        """Closes this side's connection so another client (a user's Device.open(url)) can connect."""
        if self.device is not None:
            self.device.close()
            self.device = None

    def open_device(self, **kwargs) -> Device:
        """A new Device on the emulator's port (after `release()`, or after the previous one closed)."""
        self.release()
        self.device = Device.open(self.url, timeouts=kwargs.pop("timeouts", self.timeouts), **kwargs)
        return self.device

    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def exit_summary(self) -> str:
        code = self.returncode()
        if code is None:
            return "QEMU is still running"
        text = SEMIHOSTING_EXIT_CODES.get(code, "unexpected exit")
        tail = self.stderr_text().strip()[-400:]
        return f"QEMU exited with code {code} ({text})" + (f": {tail}" if tail else "")

    def wait(self, timeout: float | None = None) -> int | None:
        """Waits for QEMU to end (the firmware exits on a fault); None if it is still running."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> int | None:
        """Stops QEMU (SIGTERM, then SIGKILL after 5 s); returns its exit code."""
        self.release()
        code = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            code = self.proc.returncode
        return code

    def close(self) -> None:
        self.stop()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
