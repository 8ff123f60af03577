"""One unit convention for what edgeimpro prints: memory and file sizes in binary units (B, KiB, MiB), link
rates in KiB/s. Exact byte counts stay as plain numbers with B (`55,296 B`) where they are compared."""

from __future__ import annotations

KIB = 1024
MIB = 1024 * 1024


def size_text(n: float) -> str:
    """1023 -> '1,023 B', 131072 -> '128 KiB', 25_000 -> '24.4 KiB', 450_000 -> '439 KiB', 1_080_000 -> '1.03 MiB'."""
    if abs(n) < KIB:
        return f"{int(n):,} B"
    if abs(n) < MIB:
        k = n / KIB
        return f"{k:,.0f} KiB" if k >= 100 or k == int(k) else f"{k:,.1f} KiB"
    return f"{n / MIB:,.2f} MiB"


def rate_text(bytes_per_second: float) -> str:
    """A link throughput: 8_400 -> '8.2 KiB/s'."""
    return f"{bytes_per_second / KIB:,.1f} KiB/s"
