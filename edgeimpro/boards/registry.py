"""Board records: constants only, no logic beyond lookup."""

from __future__ import annotations

from dataclasses import dataclass

from edgeimpro.errors import UsageError

KIB = 1024
MIB = 1024 * 1024
DEFAULT_UART_BAUD = 115200   # the ST-LINK virtual COM port's default; a host without a board name uses it


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    core: str                    # "cortex-m4", "cortex-m7", "cortex-m55"
    cpu_flags: tuple[str, ...]   # gcc flags for this core and FPU
    flash_bytes: int
    ram_bytes: int
    flash_origin: int
    ram_origin: int
    clock_hz: int
    uart: str                    # "cmsdk@0x40004000", "stm32-usart@0x40011000", ...
    qemu_machine: str | None     # None for a board that runs only on hardware
    flash_method: str | None     # "pyocd:<target>" for real boards
    support: str = ""            # folder of board C under firmware/boards/ ("" = the board's name)
    uart_baud: int = DEFAULT_UART_BAUD   # ignored by QEMU; the real UART's rate, and the host's default
    stack_bytes: int = 8 * KIB   # at the bottom of RAM (an overflow faults); counted in the RAM reported
    openocd_config: str = ""     # OpenOCD target script, the fallback when pyOCD is absent

    @property
    def support_dir(self) -> str:
        return self.support or self.name


BOARDS: dict[str, Board] = {
    b.name: b
    for b in [
        Board(
            name="qemu-m4",
            description="Arm MPS2 AN386 (Cortex-M4F), emulated by QEMU mps2-an386",
            core="cortex-m4",
            cpu_flags=("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
            flash_bytes=4 * MIB, ram_bytes=4 * MIB, flash_origin=0x0, ram_origin=0x20000000,
            clock_hz=25_000_000, uart="cmsdk@0x40004000",
            qemu_machine="mps2-an386", flash_method=None, support="arm-mps",
        ),
        Board(
            name="qemu-m7",
            description="Arm MPS2 AN500 (Cortex-M7), emulated by QEMU mps2-an500",
            core="cortex-m7",
            cpu_flags=("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"),
            flash_bytes=4 * MIB, ram_bytes=4 * MIB, flash_origin=0x0, ram_origin=0x20000000,
            clock_hz=25_000_000, uart="cmsdk@0x40004000",
            qemu_machine="mps2-an500", flash_method=None, support="arm-mps",
        ),
        Board(
            name="qemu-m55",
            description="Arm MPS3 AN547 (Cortex-M55 with Helium), emulated by QEMU mps3-an547",
            core="cortex-m55",
            cpu_flags=("-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"),
            flash_bytes=512 * KIB, ram_bytes=4 * MIB, flash_origin=0x0, ram_origin=0x21000000,
            clock_hz=32_000_000, uart="cmsdk@0x49303000",
            qemu_machine="mps3-an547", flash_method=None, support="arm-mps",
        ),
        Board(
            name="stm32f405",
            description="STM32F405 (Cortex-M4F, 1 MB flash, 128 KB SRAM), emulated by QEMU netduinoplus2",
            core="cortex-m4",
            cpu_flags=("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
            flash_bytes=1 * MIB, ram_bytes=128 * KIB, flash_origin=0x08000000, ram_origin=0x20000000,
            clock_hz=168_000_000, uart="stm32-usart@0x40011000",
            qemu_machine="netduinoplus2", flash_method="pyocd:stm32f405rg",
            openocd_config="target/stm32f4x.cfg",
        ),
        Board(
            name="nucleo-l4r5zi",
            description="ST NUCLEO-L4R5ZI (Cortex-M4F @120 MHz, 2 MB flash, 640 KB SRAM), MLPerf Tiny reference board",
            core="cortex-m4",
            cpu_flags=("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
            flash_bytes=2 * MIB, ram_bytes=640 * KIB, flash_origin=0x08000000, ram_origin=0x20000000,
            clock_hz=120_000_000, uart="stm32-lpuart@0x40008000",
            qemu_machine=None, flash_method="pyocd:stm32l4r5zitx",
            openocd_config="target/stm32l4x.cfg",
        ),
    ]
}


def get_board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise UsageError(
            f"unknown board {name!r}",
            hint="known boards: " + ", ".join(sorted(BOARDS)),
        ) from None
