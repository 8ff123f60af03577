"""The serial link to a board or an emulated board (docs/protocol.md). Never imports TensorFlow.

    from edgeimpro.link import Device
    with Device.open("socket://127.0.0.1:4444", model="model.tflite") as dev:
        result = dev.infer(x)
"""

from edgeimpro.link.codec import DeviceInfo, FrameError, TensorInfo
from edgeimpro.link.device import (
    Deadline,
    Device,
    DeviceError,
    LayerOutput,
    LinkError,
    LinkStats,
    ModelMismatchError,
    Result,
    Timeouts,
    open_transport,
    sha256_of,
)
from edgeimpro.link.protocol import PROTOCOL_VERSION, CountKind, ErrorCode, MsgType

__all__ = [
    "PROTOCOL_VERSION", "CountKind", "Deadline", "Device", "DeviceError", "DeviceInfo", "ErrorCode", "FrameError",
    "LayerOutput", "LinkError", "LinkStats", "ModelMismatchError", "MsgType", "Result", "TensorInfo", "Timeouts",
    "open_transport", "sha256_of",
]
