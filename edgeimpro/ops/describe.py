"""The short parameter summaries `inspect` and the generated C print per layer ("3x3 s2 SAME relu").
Ops declare theirs in their module (`OpDef.describe`); `OTHER` covers ops the runtime does not run but
`inspect` still lists (they run on TFLM)."""

from __future__ import annotations

from collections.abc import Callable

from edgeimpro.graph.model import Graph, Op


def stride(o: dict) -> str:
    sh, sw = o.get("stride_h", 1), o.get("stride_w", 1)
    return f"s{sh}" if sh == sw else f"s{sh}x{sw}"


def conv_like(graph: Graph, op: Op) -> list[str]:
    """CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV: filter size, stride, dilation, multiplier, padding."""
    o, parts = op.options, []
    ins = op.input_tensors(graph)
    w = ins[1] if len(ins) > 1 else None          # TRANSPOSE_CONV too: [out_c, kh, kw, in_c]
    if w is not None and len(w.shape) == 4:
        parts.append(f"{w.shape[1]}x{w.shape[2]}")
    if "stride_h" in o:
        parts.append(stride(o))
    if o.get("dilation_h", 1) != 1 or o.get("dilation_w", 1) != 1:
        parts.append(f"d{o['dilation_h']}" if o["dilation_h"] == o["dilation_w"]
                     else f"d{o['dilation_h']}x{o['dilation_w']}")
    if o.get("depth_multiplier", 1) not in (0, 1):
        parts.append(f"dm{o['depth_multiplier']}")
    if "padding" in o:
        parts.append(o["padding"])
    return parts


def pool_like(graph: Graph, op: Op) -> list[str]:
    o = op.options
    return [f"{o.get('filter_h')}x{o.get('filter_w')}", stride(o), o.get("padding", "")]


def reduce_like(graph: Graph, op: Op) -> list[str]:
    ins, parts = op.input_tensors(graph), []
    axes = ins[1] if len(ins) > 1 else None
    if axes is not None and axes.data is not None:
        parts.append("axis " + ",".join(str(int(a)) for a in axes.data.reshape(-1)))
    if op.options.get("keep_dims"):
        parts.append("keep_dims")
    return parts


OTHER: dict[str, Callable[[Graph, Op], list[str]]] = {
    "TRANSPOSE_CONV": conv_like, "L2_POOL_2D": pool_like,
    "SUM": reduce_like, "REDUCE_MAX": reduce_like, "REDUCE_MIN": reduce_like,
}
