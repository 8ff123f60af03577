"""Int8 flash and RAM estimates from a Keras model's layer shapes, before training or converting.

- flash: int8 weights (1 byte each) + int32 biases (4 bytes per output channel; a BatchNormalization
  folded into a bias-less convolution creates one) + per-channel quantization parameters.
- RAM: a lower bound on the activation arena: walking the layers in graph order, the largest sum of int8
  activations that must be live at once (a layer's inputs and output, plus any tensor still needed
  later, e.g. a ResNet shortcut). Layers the converter folds away (Rescaling at the input, BatchNorm,
  Dropout, activations fused into the previous op, reshapes, augmentation) allocate nothing.

The graph layer (`edgeimpro.graph`) computes the exact figures from the converted .tflite; this module
exists to refuse a model for a board before spending minutes training it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from edgeimpro.errors import UsageError

# Layers that become no tensor of their own in the int8 TFLite graph.
ALIAS_LAYERS = frozenset({
    "InputLayer", "Rescaling", "BatchNormalization", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
    "GaussianNoise", "GaussianDropout", "Activation", "ReLU", "Flatten", "Reshape", "Identity",
    "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
    "RandomBrightness", "RandomCrop",
})
WEIGHTED_LAYERS = frozenset({"Conv2D", "DepthwiseConv2D", "Dense", "SeparableConv2D", "Conv1D"})
# Flatbuffer records per op (tensors, names, quantization tables): fitted on converted models here.
FLATBUFFER_BYTES_PER_OP = 250
# Per output channel of a per-channel quantized weight tensor and its bias: float32 scale + int64 zero point.
QUANT_PARAM_BYTES_PER_CHANNEL = 2 * (4 + 8)


@dataclass
class LayerEstimate:
    name: str
    kind: str                           # Keras layer class
    output_shape: tuple[int, ...]       # without the batch dimension
    params: int                         # weights and biases as stored in the int8 model
    weight_bytes: int                   # int8 weights + int32 biases + quantization parameters
    macs: int
    live_bytes: int                     # int8 activations live while this layer runs


@dataclass
class ModelEstimate:
    layers: list[LayerEstimate] = field(default_factory=list)
    input_bytes: int = 0
    total_activation_bytes: int = 0     # every activation tensor summed: the RAM if nothing were reused
    planned_ram_bytes: int = 0          # the AOT planner's arena for these shapes (streamed, fused; no scratch)

    @property
    def flash_bytes(self) -> int:
        """Model data in flash (weights, biases, quantization parameters); excludes the runtime code."""
        return sum(layer.weight_bytes + FLATBUFFER_BYTES_PER_OP for layer in self.layers)

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def peak_ram_bytes(self) -> int:
        return max([self.input_bytes] + [layer.live_bytes for layer in self.layers])

    @property
    def peak_layer(self) -> str:
        best = max(self.layers, key=lambda layer: layer.live_bytes, default=None)
        return best.name if best and best.live_bytes >= self.input_bytes else "input"

    def to_dict(self) -> dict:
        return {"flash_bytes": self.flash_bytes, "peak_ram_bytes": self.peak_ram_bytes,
                "planned_ram_bytes": self.planned_ram_bytes,
                "peak_layer": self.peak_layer, "total_activation_bytes": self.total_activation_bytes,
                "params": self.params, "macs": self.macs}

    def layer_dicts(self) -> list[dict]:
        return [asdict(layer) for layer in self.layers]


def estimate_model(model) -> ModelEstimate:
    """Estimate int8 flash and the activation-RAM lower bound of a Keras functional model."""
    model = _graph_of(model)
    if model is None:
        raise UsageError("cannot estimate a Keras model without a layer graph (a subclassed model)",
                         hint="build it with the functional API or keras.Sequential")
    walker = _Walker()
    inputs = [walker.new_buffer(_size(t.shape), producer=None) for t in model.inputs]
    outputs = walker.walk(model, inputs)
    est = ModelEstimate(input_bytes=sum(walker.sizes[b] for b in inputs), total_activation_bytes=sum(walker.sizes))
    # Liveness: a buffer lives from the step producing it to the last step reading it (outputs: to the end).
    n = len(walker.steps)
    born = dict.fromkeys(inputs, -1)
    last = dict.fromkeys(inputs, -1)
    for i, step in enumerate(walker.steps):
        born.setdefault(step.output, i)
        last[step.output] = max(last.get(step.output, i), i)
        for b in step.inputs:
            last[b] = max(last.get(b, i), i)
    for b in outputs:
        last[b] = n
    for i, step in enumerate(walker.steps):
        live = sum(walker.sizes[b] for b in born if born[b] <= i <= last[b])
        est.layers.append(LayerEstimate(
            name=step.name, kind=step.kind, output_shape=step.shape, params=walker.params[i],
            weight_bytes=walker.weight_bytes[i], macs=step.macs, live_bytes=live))
    est.planned_ram_bytes = _planned_arena(walker, inputs, outputs)
    return est


# Keras layers -> the int8 op they become (what the planner knows of them)
OPCODES = {"Conv2D": "CONV_2D", "DepthwiseConv2D": "DEPTHWISE_CONV_2D", "MaxPooling2D": "MAX_POOL_2D",
           "AveragePooling2D": "AVERAGE_POOL_2D", "ZeroPadding2D": "PAD", "Add": "ADD", "Multiply": "MUL",
           "Dense": "FULLY_CONNECTED", "Concatenate": "CONCATENATION", "GlobalAveragePooling2D": "MEAN",
           "Softmax": "SOFTMAX", "LeakyReLU": "LEAKY_RELU"}


def _planned_arena(walker: _Walker, inputs: list[int], outputs: list[int]) -> int:
    """The AOT planner run on the walked shapes: the same lifetimes, in-place ops, streaming contracts and
    conv + pool fusions as `export --target aot` plans for the converted model (kernel scratch aside)."""
    from edgeimpro import ops
    from edgeimpro.codegen import fusion
    from edgeimpro.codegen.planner import plan_arena
    from edgeimpro.graph.model import Graph, Op, Tensor
    from edgeimpro.ops.stream import ROW, pad_stream, window_stream

    shapes = [(1, walker.sizes[b]) for b in range(len(walker.sizes))]
    for step in walker.steps:
        shapes[step.output] = (1, *step.shape)
    tensors = [Tensor(i, f"t{i}", shape, "int8") for i, shape in enumerate(shapes)]
    graph_ops = [Op(i, OPCODES.get(step.kind, step.kind), list(step.inputs), [step.output])
                 for i, step in enumerate(walker.steps)]
    graph = Graph(tensors, graph_ops, list(inputs), list(dict.fromkeys(outputs)), "", 0)
    streams, windows = {}, {}
    for i, step in enumerate(walker.steps):
        w = step.window
        if w is None:
            continue
        windows[i] = w
        if step.kind == "ZeroPadding2D":
            streams[i] = pad_stream((1, *w.in_hwc), (0, w.pad_top, w.pad_left, 0), (0, w.pad_bottom, w.pad_right, 0))
        else:
            group = {"Conv2D": 4, "DepthwiseConv2D": ROW}.get(step.kind, 1)
            streams[i] = window_stream(1, w.in_hwc, w.out_hwc, (w.stride_h, w.stride_w), (w.pad_top, w.pad_left),
                                       ((w.filter_h - 1) * w.dilation_h + 1, (w.filter_w - 1) * w.dilation_w + 1),
                                       group)
    consumers = graph.consumers()
    candidates = [fusion.Pipeline((fusion.Layer(i, windows[i]), fusion.Layer(i + 1, windows[i + 1])))
                  for i, step in enumerate(walker.steps[:-1])
                  if step.kind in ("Conv2D", "DepthwiseConv2D") and walker.steps[i + 1].kind in POOLS
                  and i in windows and i + 1 in windows and walker.steps[i + 1].inputs == [step.output]
                  and consumers.get(step.output) == [i + 1] and step.output not in graph.outputs]

    def plan_with(pipes: list[fusion.Pipeline]):   # noqa: ANN202
        s = dict(streams)
        for pipe in pipes:
            for k in pipe.ops:
                s.pop(k, None)
            s[pipe.first] = pipe.stream()
        return plan_arena(graph, lambda op: ops.can_run_inplace(graph, op), streams=s,
                          scratch={pipe.first: pipe.scratch_bytes(0) for pipe in pipes},
                          pipelines=[pipe.ops for pipe in pipes])

    plan, _ = fusion.choose(candidates, plan_with)
    return plan.arena_bytes


POOLS = ("MaxPooling2D", "AveragePooling2D")


@dataclass(frozen=True)
class _Window:
    """A conv / depthwise / pool / padding layer's geometry, under the field names of the int8 params
    records (ops/conv2d.py, ops/pool2d.py) that codegen.fusion reads."""
    in_h: int
    in_w: int
    in_c: int
    out_h: int
    out_w: int
    out_c: int
    filter_h: int = 1
    filter_w: int = 1
    stride_h: int = 1
    stride_w: int = 1
    dilation_h: int = 1
    dilation_w: int = 1
    pad_top: int = 0
    pad_left: int = 0
    pad_bottom: int = 0
    pad_right: int = 0
    batches: int = 1

    @property
    def channels(self) -> int:   # the pool record's name
        return self.out_c

    @property
    def in_hwc(self) -> tuple[int, int, int]:
        return self.in_h, self.in_w, self.in_c

    @property
    def out_hwc(self) -> tuple[int, int, int]:
        return self.out_h, self.out_w, self.out_c


def _window(layer, kind: str, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> _Window | None:
    """The geometry of a 2-D windowed layer (None for any other, or other ranks)."""
    if len(in_shape) != 3 or len(out_shape) != 3:
        return None
    if kind == "ZeroPadding2D":
        (t, b), (left, r) = layer.padding
        return _Window(*in_shape, *out_shape, pad_top=int(t), pad_left=int(left), pad_bottom=int(b), pad_right=int(r))
    if kind in ("Conv2D", "DepthwiseConv2D"):
        (fh, fw), (sh, sw), (dh, dw) = layer.kernel_size, layer.strides, layer.dilation_rate
    elif kind in POOLS:
        (fh, fw), (sh, sw), (dh, dw) = layer.pool_size, layer.strides, (1, 1)
    else:
        return None
    pads = []
    for size, out, k, st, d in ((in_shape[0], out_shape[0], fh, sh, dh), (in_shape[1], out_shape[1], fw, sw, dw)):
        total = max(0, (out - 1) * st + (k - 1) * d + 1 - size) if layer.padding == "same" else 0
        pads.append(total // 2)
    return _Window(*in_shape, *out_shape, int(fh), int(fw), int(sh), int(sw), int(dh), int(dw), pads[0], pads[1])


@dataclass
class _Step:
    name: str
    kind: str
    inputs: list[int]
    output: int
    shape: tuple[int, ...]
    macs: int
    window: _Window | None = None


class _Walker:
    """Flattens (nested) Keras functional graphs into a list of ops over activation buffers."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.producer: list[int | None] = []     # step index producing each buffer
        self.steps: list[_Step] = []
        self.params: list[int] = []
        self.weight_bytes: list[int] = []
        self.has_bias: list[bool] = []

    def new_buffer(self, size: int, producer: int | None) -> int:
        self.sizes.append(size)
        self.producer.append(producer)
        return len(self.sizes) - 1

    def walk(self, model, input_buffers: list[int]) -> list[int]:
        buf = {id(t): b for t, b in zip(model.inputs, input_buffers, strict=True)}
        for depth in sorted(model._nodes_by_depth, reverse=True):
            for node in model._nodes_by_depth[depth]:
                op = node.operation
                if op is None or node.is_input or any(id(t) not in buf for t in node.input_tensors):
                    continue
                ins = [buf[id(t)] for t in node.input_tensors]
                nested = _graph_of(op)
                if nested is not None:                         # a nested functional / Sequential model
                    outs = self.walk(nested, ins)
                else:
                    outs = [self.layer(op, node, ins)] * len(node.outputs)
                for t, b in zip(node.outputs, outs, strict=True):
                    buf[id(t)] = b
        return [buf[id(t)] for t in model.outputs]

    def layer(self, layer, node, ins: list[int]) -> int:
        kind = type(layer).__name__
        # x*s folds into the next conv's weights; x*s + o does not (zero padding): int8 MUL and ADD remain.
        folded_rescale = kind == "Rescaling" and not _nonzero(getattr(layer, "offset", 0.0))
        if kind in ALIAS_LAYERS and (kind != "Rescaling" or folded_rescale):
            if kind == "BatchNormalization":
                self._fold_batchnorm(ins[0], int(node.outputs[0].shape[-1]))
            return ins[0]
        out_shape = tuple(int(d) for d in node.outputs[0].shape[1:])
        in_shapes = [tuple(int(d) for d in t.shape[1:]) for t in node.input_tensors]
        params, nbytes = _weights(layer)
        step = len(self.steps)
        out = self.new_buffer(math.prod(out_shape), producer=step)
        self.steps.append(_Step(layer.name, kind, ins, out, out_shape, _macs(layer, kind, in_shapes, out_shape),
                                _window(layer, kind, in_shapes[0], out_shape) if in_shapes else None))
        self.params.append(params)
        self.weight_bytes.append(nbytes)
        self.has_bias.append(bool(getattr(layer, "use_bias", False)))
        return out

    def _fold_batchnorm(self, buffer: int, channels: int) -> None:
        """BatchNorm after a bias-less conv becomes that conv's int32 bias (its scale folds into the weights)."""
        step = self.producer[buffer]
        if step is None or self.steps[step].kind not in WEIGHTED_LAYERS or self.has_bias[step]:
            return
        self.params[step] += channels
        self.weight_bytes[step] += 4 * channels
        self.has_bias[step] = True


def _graph_of(model):
    """The functional graph of a Functional model, or of a built Sequential; None for plain layers."""
    if hasattr(model, "_nodes_by_depth"):
        return model
    inner = getattr(model, "_functional", None)
    return inner if inner is not None and hasattr(inner, "_nodes_by_depth") else None


def _nonzero(value) -> bool:
    import numpy as np

    return bool(np.any(np.asarray(value) != 0))


def _size(shape) -> int:
    return math.prod(int(d) for d in shape[1:])


def _weights(layer) -> tuple[int, int]:
    """(params, bytes) of a layer's weights as stored in an int8 model."""
    kind = type(layer).__name__
    if kind not in WEIGHTED_LAYERS:
        # Other layers with weights (PReLU, LayerNorm, ...) are rare here; count them as int8.
        n = sum(math.prod(w.shape) for w in layer.weights)
        return n, n
    params = nbytes = 0
    for w in layer.weights:
        n = math.prod(w.shape)
        params += n
        nbytes += 4 * n if "bias" in w.path.rsplit("/", 1)[-1] else n
    out_channels = int(layer.weights[0].shape[-1]) if layer.weights else 0
    if kind == "DepthwiseConv2D":
        out_channels = int(layer.weights[0].shape[-2] * layer.weights[0].shape[-1])
    return params, nbytes + QUANT_PARAM_BYTES_PER_CHANNEL * out_channels


def _macs(layer, kind: str, in_shapes: list[tuple[int, ...]], out_shape: tuple[int, ...]) -> int:
    if kind in ("Conv2D", "Conv1D", "SeparableConv2D", "DepthwiseConv2D", "Dense") and layer.weights:
        kernel = layer.weights[0].shape
        spatial = math.prod(out_shape[:-1]) if len(out_shape) > 1 else 1
        if kind == "DepthwiseConv2D":
            return spatial * out_shape[-1] * kernel[0] * kernel[1]
        if kind == "SeparableConv2D":
            dw, pw = layer.weights[0].shape, layer.weights[1].shape
            return spatial * (in_shapes[0][-1] * dw[0] * dw[1] * dw[3] + math.prod(pw))
        return spatial * math.prod(kernel)
    return 0
