"""Training plots: learning curves (the over/underfitting picture) and the validation confusion matrix.

Uses matplotlib's object API with the Agg canvas: no pyplot global state, no display needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgeimpro.escape import printable


def plot_curves(history: dict[str, Sequence[float]], path: Path, title: str = "") -> None:
    """Loss and accuracy per epoch, training vs validation, side by side."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy"), strict=True):
        for key, name, style in ((metric, "training", "-o"), (f"val_{metric}", "validation", "-s")):
            if history.get(key):
                ax.plot(epochs, history[key], style, markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
        if metric == "accuracy":
            ax.set_ylim(0, 1.02)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=100)


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], path: Path, title: str = "") -> None:
    """Counts per (true, predicted) class, with each row's share shading the cell."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = [_literal(label) for label in labels]    # class folder names are the user's: shown as written
    n = len(labels)
    side = min(3 + 0.6 * n, 14)
    fig = Figure(figsize=(side + 1, side), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape, float), where=rows > 0)
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, label="share of the true class")
    ax.set_xticks(range(n), labels, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center",
                        color="white" if share[i, j] > 0.5 else "black", fontsize=9)
    if title:
        ax.set_title(_literal(title))
    fig.savefig(path, dpi=100)


def _literal(text: str) -> str:
    """Printable text with every `$` escaped, so matplotlib draws it instead of reading it as maths."""
    return printable(text).replace("$", r"\$")
