"""Does a model fit a board? Checked from the Keras-level estimate before training; refusals say what fits."""

from __future__ import annotations

import math

from edgeimpro.boards.registry import Board
from edgeimpro.errors import BoardFitError
from edgeimpro.graph.analysis import RUNTIME_CODE_ALLOWANCE, RUNTIME_RAM_ALLOWANCE, BoardFit
from edgeimpro.training.architectures import ModelSpec, min_input_size
from edgeimpro.training.estimate import ModelEstimate, estimate_model
from edgeimpro.units import size_text

# Flash and RAM of the runtime besides the model: the same allowances `edgeimpro inspect --board` uses.
RUNTIME_CODE_BYTES = RUNTIME_CODE_ALLOWANCE
RUNTIME_RAM_BYTES = RUNTIME_RAM_ALLOWANCE
# Suggestions aim below this fraction of RAM and flash: the estimate is a lower bound, and the runtime
# needs stack, buffers and the interpreter's own bookkeeping.
SUGGESTION_BUDGET = 0.75
SIZE_STEP = 8
# Architectures tried, in order, when suggesting another model at the same input size.
ALTERNATIVES: tuple[tuple[str, float | None], ...] = (
    ("mobilenet", 0.25), ("dscnn", None), ("resnet8", None), ("seed-cnn", None),
)


def check_fit(est: ModelEstimate, board: Board) -> BoardFit:
    """The Keras-level estimate against `board`: model data + runtime code in flash, the planned AOT arena +
    runtime RAM (the same record `inspect --board` makes from a .tflite)."""
    return BoardFit(board=board.name, flash_needed=est.flash_bytes + RUNTIME_CODE_BYTES,
                    flash_available=board.flash_bytes, ram_needed=est.planned_ram_bytes + RUNTIME_RAM_BYTES,
                    ram_available=board.ram_bytes,
                    ram_basis=f"planned AOT arena {est.planned_ram_bytes:,} B + runtime {RUNTIME_RAM_BYTES:,} B")


def require_fit(spec: ModelSpec, est: ModelEstimate, board: Board) -> BoardFit:
    """The fit check; raises BoardFitError with the numbers and a suggestion when the model cannot fit."""
    fit = check_fit(est, board)
    if fit.fits:
        return fit
    raise BoardFitError("; ".join(fit_problems(est, board)), hint=suggest(spec, board))


def fit_problems(est: ModelEstimate, board: Board) -> list[str]:
    """What does not fit, with the numbers (empty when the model fits)."""
    fit = check_fit(est, board)
    problems = []
    if not fit.fits_ram:
        problems.append(f"model needs a {size_text(est.planned_ram_bytes)} arena for its int8 activations (planned "
                        f"as export --target aot plans it; {size_text(est.peak_ram_bytes)} at {est.peak_layer} if "
                        f"every layer held its whole input and output) + {size_text(RUNTIME_RAM_BYTES)} for the "
                        f"runtime, board {board.name} has {size_text(board.ram_bytes)} RAM")
    if not fit.fits_flash:
        problems.append(f"model needs {size_text(est.flash_bytes)} of int8 weights + "
                        f"~{size_text(RUNTIME_CODE_BYTES)} of runtime code, "
                        f"board {board.name} has {size_text(board.flash_bytes)} flash")
    return problems


def suggest(spec: ModelSpec, board: Board) -> str:
    """'try --input-size 64x64 or --arch mobilenet --alpha 0.25' (what would fit), or why nothing does."""
    options = []
    size = largest_fitting_size(spec, board)
    if size is not None:
        options.append(f"--input-size {size[0]}x{size[1]}")
    alternatives = [ModelSpec(arch, spec.height, spec.width, spec.channels, spec.num_classes, alpha=alpha)
                    for arch, alpha in ALTERNATIVES if (arch, alpha) != (spec.arch, spec.alpha)]
    for alt in alternatives:
        if fits_budget(estimate_model(alt.build()), board):
            options.append(alt.option_text())
            break
    else:
        # Nothing else fits at this size either: the smallest architecture at the size that fits.
        alt_size = largest_fitting_size(alternatives[0], board) if alternatives else None
        if alt_size is not None:
            options.append(f"{alternatives[0].option_text()} --input-size {alt_size[0]}x{alt_size[1]}")
    if not options:
        return (f"nothing close to {spec.option_text()} fits {board.name}; "
                "choose a board with more memory")
    return "try " + " or ".join(options)


def largest_fitting_size(spec: ModelSpec, board: Board) -> tuple[int, int] | None:
    """The largest input size (same aspect ratio, multiples of 8, below the current one) within budget."""
    base = spec.shape_only()
    aspect = spec.width / spec.height
    min_side = -(-max(SIZE_STEP, min_input_size(spec.arch)) // SIZE_STEP) * SIZE_STEP

    def size_for(h: int) -> tuple[int, int]:
        return h, max(min_side, int(round(h * aspect / SIZE_STEP)) * SIZE_STEP)

    def fits(h: int) -> bool:
        return fits_budget(estimate_model(base.at_size(*size_for(h)).build()), board)

    est = estimate_model(base.build())
    if est.flash_bytes + RUNTIME_CODE_BYTES > board.flash_bytes * SUGGESTION_BUDGET:
        return None     # weights do not depend on the input size (global pooling heads)
    # Activations grow with the pixel count: start from that guess and step to the boundary.
    ratio = board.ram_bytes * SUGGESTION_BUDGET / max(est.planned_ram_bytes, 1)
    h = int(spec.height * math.sqrt(min(ratio, 1.0)) // SIZE_STEP * SIZE_STEP)
    h = max(min(h, (spec.height - 1) // SIZE_STEP * SIZE_STEP), min_side)
    if fits(h):
        while h + SIZE_STEP < spec.height and fits(h + SIZE_STEP):
            h += SIZE_STEP
        return size_for(h)
    while h - SIZE_STEP >= min_side:
        h -= SIZE_STEP
        if fits(h):
            return size_for(h)
    return None


def fits_budget(est: ModelEstimate, board: Board) -> bool:
    """Fits with SUGGESTION_BUDGET of RAM and flash: what a suggestion must meet."""
    return (est.planned_ram_bytes + RUNTIME_RAM_BYTES <= board.ram_bytes * SUGGESTION_BUDGET
            and est.flash_bytes + RUNTIME_CODE_BYTES <= board.flash_bytes * SUGGESTION_BUDGET)
