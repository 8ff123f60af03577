"""Builtin options of a .tflite operator as a plain dict. Each op declares the options table it reads
(`OpDef.options`: the BuiltinOptions type name and its parser); `OTHER` holds the parsers of tables only
ops outside the runtime use (SUB, DIV: still validated and described for the TFLM export)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tflite

ACTIVATIONS = {v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")}
PADDINGS = {v: k for k, v in vars(tflite.Padding).items() if not k.startswith("_")}

Parser = Callable[[Any], dict[str, Any]]


def activation(v: int) -> str:
    return ACTIVATIONS.get(v, f"ACT_{v}")


def padding(v: int) -> str:
    return PADDINGS.get(v, f"PADDING_{v}")


def table(kind: str, raw: Any) -> Any:
    """The options table `raw` read as tflite.<kind> (e.g. "Conv2DOptions")."""
    x = getattr(tflite, kind)()
    x.Init(raw.Bytes, raw.Pos)
    return x


def conv(x: Any) -> dict[str, Any]:
    return {"padding": padding(x.Padding()), "stride_h": x.StrideH(), "stride_w": x.StrideW(),
            "dilation_h": x.DilationHFactor(), "dilation_w": x.DilationWFactor(),
            "activation": activation(x.FusedActivationFunction())}


def depthwise(x: Any) -> dict[str, Any]:
    return {**conv(x), "depth_multiplier": x.DepthMultiplier()}


def pool(x: Any) -> dict[str, Any]:
    return {"padding": padding(x.Padding()), "stride_h": x.StrideH(), "stride_w": x.StrideW(),
            "filter_h": x.FilterHeight(), "filter_w": x.FilterWidth(),
            "activation": activation(x.FusedActivationFunction())}


def fused_only(x: Any) -> dict[str, Any]:
    return {"activation": activation(x.FusedActivationFunction())}


def reducer(x: Any) -> dict[str, Any]:
    return {"keep_dims": bool(x.KeepDims())}


def fully_connected(x: Any) -> dict[str, Any]:
    return {"activation": activation(x.FusedActivationFunction()), "keep_num_dims": bool(x.KeepNumDims()),
            "weights_format": x.WeightsFormat(), "asymmetric_quantize_inputs": bool(x.AsymmetricQuantizeInputs())}


def concatenation(x: Any) -> dict[str, Any]:
    return {"axis": x.Axis(), "activation": activation(x.FusedActivationFunction())}


def softmax(x: Any) -> dict[str, Any]:
    return {"beta": float(x.Beta())}


def leaky_relu(x: Any) -> dict[str, Any]:
    return {"alpha": float(x.Alpha())}


def reshape(x: Any) -> dict[str, Any]:
    return {"new_shape": [int(v) for v in x.NewShapeAsNumpy()] if x.NewShapeLength() else []}


OTHER: dict[str, Parser] = {"SubOptions": fused_only, "DivOptions": fused_only}
