"""The graph layer: .tflite -> typed graph, validation, MACs, RAM lower bound. Never imports TensorFlow."""

from edgeimpro.graph.loader import load_graph
from edgeimpro.graph.model import Graph, Op, Quantization, Tensor

__all__ = ["Graph", "Op", "Quantization", "Tensor", "load_graph"]
