"""The report's figures as PNG bytes (matplotlib's object API with the Agg canvas: no pyplot, no global
backend switch, safe in any process).

Class names, op names and board names come from the model, its model.json or the device: every text drawn
from them is `printable` (a lone surrogate, as JSON's "\\udcff", crashes the font code) and drawn with
TEXT (parse_math=False), else a `$` starts matplotlib's mathtext and a label such as `$\\frac$` makes the
whole report fail.
"""

from __future__ import annotations

import io
from typing import Any

from edgeimpro.escape import printable

DEVICE_COLOUR = "#1f77b4"
REFERENCE_COLOURS = {"tflm": "#d62728", "litert": "#ff7f0e", "keras": "#9467bd"}   # any tflm difference is a bug
FIRST_COLOUR = "#d62728"
DPI = 110
TEXT = {"parse_math": False}            # draw model strings literally (no mathtext)


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def difference_histogram(summary: dict[str, Any]) -> bytes | None:
    """Per reference: how many output elements differ from it by how many int8 steps (log scale)."""
    refs = [r for r in summary["references"].values() if r.get("inputs")]
    if not refs:
        return None
    fig = _figure(7.5, 1.0 + 2.1 * len(refs))
    axes = fig.subplots(len(refs), 1, squeeze=False)[:, 0]
    for ax, ref in zip(axes, refs, strict=True):
        hist = {int(k): v for k, v in ref["diff_histogram"].items()}
        span = max(3, max((abs(k) for k in hist), default=0) + 1)
        xs = sorted(hist)
        colours = ["#7f7f7f" if k == 0 else REFERENCE_COLOURS.get(ref["name"], DEVICE_COLOUR) for k in xs]
        ax.bar(xs, [hist[k] for k in xs], width=0.8, color=colours)
        ax.set_yscale("log")
        ax.set_xlim(-span - 0.5, span + 0.5)
        ax.set_ylim(0.5, max(hist.values(), default=1) * 3)
        differing = ref["elements"] - hist.get(0, 0)
        what = "int8 steps, the float output rounded to int8" if ref.get("float") else "int8 steps"
        ax.set_title(f"device − {printable(ref['title'])}: {differing:,} of {ref['elements']:,} elements differ "
                     f"(max |Δ| {ref['max_abs_diff_steps']:.3g} steps)", fontsize=10, loc="left", **TEXT)
        ax.set_ylabel("elements")
        ax.set_xlabel(f"difference ({what})")
        if span <= 12:
            ax.set_xticks(range(-span, span + 1))
        ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def confusion_matrices(summary: dict[str, Any]) -> bytes | None:
    """Truth (rows) vs prediction (columns) for the device and each reference."""
    labels = summary.get("labels") or {}
    mats = labels.get("confusion")
    if not mats:
        return None
    import numpy as np

    names = [printable(str(n)) for n in summary.get("class_names") or []]
    titles = {"device": f"device ({(summary.get('device') or {}).get('board', '')})"}
    titles.update({k: v["title"] for k, v in summary["references"].items()})
    titles = {k: printable(str(v)) for k, v in titles.items()}
    n = len(mats)
    k = len(names)
    cell = 0.45 if k <= 12 else 0.22
    side = max(2.6, cell * k + 1.4)
    fig = _figure(min(18.0, side * n + 0.6), side + 0.9)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (who, m) in zip(axes, mats.items(), strict=True):
        m = np.asarray(m)
        ax.imshow(m, cmap="Blues", vmin=0, vmax=max(1, int(m.max())))
        acc = labels["accuracy"].get(who)
        ax.set_title(f"{titles.get(who, who)}\naccuracy {100 * acc:.1f}%" if acc is not None else who, fontsize=9,
                     **TEXT)
        ticks = range(k)
        if k <= 30:
            ax.set_xticks(ticks, names, rotation=90 if max(map(len, names), default=0) > 3 else 0, fontsize=8,
                          **TEXT)
            ax.set_yticks(ticks, names, fontsize=8, **TEXT)
        if k <= 20:
            limit = m.max() / 2
            for i in range(k):
                for j in range(k):
                    if m[i, j]:
                        ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8,
                                color="white" if m[i, j] > limit else "black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    return _png(fig)


def layer_divergence_chart(summary: dict[str, Any]) -> bytes | None:
    """Per layer, over the mismatching inputs: largest difference from tflite_micro, and at how many
    inputs the divergence starts there."""
    layers = summary.get("layers")
    if not layers or not layers["per_layer"]:
        return None
    rows = layers["per_layer"]
    first = (layers.get("first_divergent_layer") or {}).get("layer")
    starts = {int(k): v for k, v in layers["first_divergence_counts"].items()}
    xs = list(range(len(rows)))
    ticks = [printable(f"{r['layer']} {r['opcode']}") for r in rows]
    fig = _figure(max(6.0, 0.42 * len(rows) + 1.5), 5.2)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    colours = [FIRST_COLOUR if r["layer"] == first else ("#ff9896" if r["max_abs"] else "#98df8a") for r in rows]
    top.bar(xs, [r["max_abs"] for r in rows], color=colours)
    top.set_ylabel("max |Δ| (int8 steps)")
    title = f"layer by layer vs tflite_micro, over {layers['inputs_checked']} mismatching input(s)"
    if first is not None:
        fl = layers["first_divergent_layer"]
        title += f"\nfirst divergence: layer {first} {printable(fl['opcode'])} (max |Δ| {fl['max_abs']})"
    top.set_title(title, fontsize=10, loc="left", **TEXT)
    top.grid(axis="y", alpha=0.3)
    for x, r in zip(xs, rows, strict=True):
        if r["max_abs"] == 0:
            top.text(x, 0, "=", ha="center", va="bottom", fontsize=9, color="#2ca02c", fontweight="bold")
    from matplotlib.patches import Patch

    top.legend(handles=[Patch(color=FIRST_COLOUR, label="first divergent layer"),
                        Patch(color="#ff9896", label="differs (may follow from it)"),
                        Patch(color="#2ca02c", label="= identical")], fontsize=8, loc="upper left")
    bottom.bar(xs, [starts.get(r["layer"], 0) for r in rows],
               color=[FIRST_COLOUR if r["layer"] == first else "#aec7e8" for r in rows])
    bottom.set_ylabel("inputs diverging\nfirst here")
    bottom.set_xticks(xs, ticks, rotation=60, ha="right", fontsize=8, **TEXT)
    bottom.yaxis.get_major_locator().set_params(integer=True)
    bottom.grid(axis="y", alpha=0.3)
    return _png(fig)

