"""Reading dlib's serialised face recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``).

The file is ``dlib::serialize`` of the network type (see :mod:`agent.faces.resnet_architecture`):

* integers: one byte holding the byte count (low 4 bits) and the sign (0x80), then that many
  bytes, least significant first;
* ``float``/``double`` outside tensors: two integers, mantissa and binary exponent;
* strings: an integer length, then the bytes; ``bool``: the character ``'0'`` or ``'1'``;
* tensors: version 2, the dimensions (samples, channels, rows, columns) as integers, then
  the values as 4-byte little-endian IEEE floats (read here in one ``numpy.frombuffer``);
* a layer wrapper (``add_layer``) writes its version, then its inner network, then its own
  layer's details, so the versions of all wrappers come first (outermost first), then the
  input layer, then each layer's details from the innermost outwards.

Every version string, dimension and layer setting is checked against the expected network;
anything else is refused with a :class:`~agent.errors.FaceEngineError`. Install-time only.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from agent.errors import FaceEngineError
from agent.faces.resnet_architecture import CHIP_SIZE, Layer, network_layers

Weights = dict[str, npt.NDArray[np.float32]]
"""The network's parameters by name (see :func:`parse_resnet_dat`)."""


class _Reader:
    """Sequential reader of dlib's serialisation, failing with the offset on any surprise."""

    def __init__(self, data: bytes, where: str) -> None:
        self.data = data
        self.pos = 0
        self.where = where

    def fail(self, what: str) -> FaceEngineError:
        return FaceEngineError(
            f"not dlib's face recognition ResNet v1 model: {what} (at byte {self.pos})",
            where=self.where,
            hint="reinstall face_recognition_models",
        )

    def take(self, count: int) -> bytes:
        if count < 0 or self.pos + count > len(self.data):
            raise self.fail("the file ends early")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def integer(self) -> int:
        head = self.take(1)[0]
        size = head & 0x0F
        if size == 0 or size > 8 or head & 0x70:
            raise self.fail(f"bad integer header 0x{head:02x}")
        value = int.from_bytes(self.take(size), "little")
        return -value if head & 0x80 else value

    def expect(self, value: int, what: str) -> None:
        found = self.integer()
        if found != value:
            raise self.fail(f"{what} is {found}, expected {value}")

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        return float(mantissa) * 2.0**exponent

    def string(self, expected: str) -> None:
        length = self.integer()
        found = self.take(length) if 0 <= length <= 64 else b"?"
        if found != expected.encode():
            raise self.fail(f"found {found!r} where {expected!r} belongs")

    def boolean(self) -> bool:
        char = self.take(1)
        if char not in (b"0", b"1"):
            raise self.fail(f"bad bool {char!r}")
        return char == b"1"

    def tensor(self) -> npt.NDArray[np.float32]:
        self.expect(2, "tensor version")
        shape = tuple(self.integer() for _ in range(4))
        if min(shape) < 0:
            raise self.fail(f"negative tensor size {shape}")
        count = shape[0] * shape[1] * shape[2] * shape[3]
        values = np.frombuffer(self.take(4 * count), dtype="<f4").astype(np.float32)
        return values.reshape(shape)

    def alias(self) -> tuple[int, int, int, int]:
        self.expect(1, "alias tensor version")
        n, k, nr, nc = (self.integer() for _ in range(4))
        return (n, k, nr, nc)


def _geometry(reader: _Reader, layer: Layer, index: int) -> None:
    """Window rows, columns, strides and paddings, as the expected network has them."""
    found = [reader.integer() for _ in range(6)]
    size = layer.size
    wanted = [size, size, layer.stride, layer.stride, layer.padding, layer.padding]
    if found != wanted:
        raise reader.fail(f"layer {index} ({layer.kind}) has geometry {found}, expected {wanted}")


def _details(reader: _Reader, layer: Layer, index: int, channels: int, weights: Weights) -> int:
    """Read one layer's details; returns the channel count of its output."""
    if layer.kind == "con":
        reader.string("con_4")
        params = reader.tensor().reshape(-1)
        reader.expect(layer.filters, f"layer {index} filters")
        _geometry(reader, layer, index)
        shape = (layer.filters, channels, layer.size, layer.size)
        if reader.alias() != shape or reader.alias() != (1, layer.filters, 1, 1):
            raise reader.fail(f"layer {index} (con) is not {shape}")
        filters = int(np.prod(shape))
        if params.size != filters + layer.filters:
            raise reader.fail(f"layer {index} (con) has {params.size} parameters")
        weights[f"{index}.filters"] = params[:filters].reshape(shape)
        weights[f"{index}.biases"] = params[filters:].copy()
        for _ in range(4):  # learning-rate and weight-decay multipliers: training only
            reader.real()
        return layer.filters
    if layer.kind == "affine":
        reader.string("affine_")
        params = reader.tensor().reshape(-1)
        if reader.alias() != (1, channels, 1, 1) or reader.alias() != (1, channels, 1, 1):
            raise reader.fail(f"layer {index} (affine) is not over {channels} channels")
        reader.expect(0, f"layer {index} mode (CONV_MODE)")
        if params.size != 2 * channels:
            raise reader.fail(f"layer {index} (affine) has {params.size} parameters")
        weights[f"{index}.gamma"] = params[:channels].copy()
        weights[f"{index}.beta"] = params[channels:].copy()
        return channels
    if layer.kind == "fc":
        reader.string("fc_2")
        reader.expect(layer.filters, "fc outputs")
        reader.expect(channels, "fc inputs")
        params = reader.tensor().reshape(-1)
        if reader.alias() != (channels, layer.filters, 1, 1):
            raise reader.fail("fc weights are not inputs x outputs")
        reader.alias()  # the (unused) bias alias
        reader.expect(1, "fc bias mode (FC_NO_BIAS)")
        if params.size != channels * layer.filters:
            raise reader.fail(f"fc has {params.size} parameters")
        weights[f"{index}.weights"] = params.reshape(channels, layer.filters)
        for _ in range(4):
            reader.real()
        return layer.filters
    names = {"relu": "relu_", "max_pool": "max_pool_2", "avg_pool": "avg_pool_2", "add_prev": "add_prev_"}
    reader.string(names[layer.kind])
    if layer.kind in ("max_pool", "avg_pool"):
        _geometry(reader, layer, index)
    return channels


def parse_resnet_dat(data: bytes, where: str = "face recognition model") -> Weights:
    """The parameters of dlib's face ResNet from the bytes of its ``.dat`` file.

    Names: ``input.mean`` (red, green, blue), ``<i>.filters``/``<i>.biases`` of a ``con`` layer,
    ``<i>.gamma``/``<i>.beta`` of an ``affine`` layer and ``0.weights`` (inputs x outputs) of
    the fully connected layer, ``<i>`` being the layer's index in
    :func:`~agent.faces.resnet_architecture.network_layers`.

    Raises:
        FaceEngineError: the bytes are not exactly that network (truncated, another model, ...).
    """
    reader = _Reader(data, where)
    layers = network_layers()
    reader.expect(1, "add_loss_layer version")
    reader.string("loss_metric_2")
    reader.real(), reader.real()  # margin and distance threshold: training only
    for index, layer in enumerate(layers):
        innermost = index == len(layers) - 1
        wanted = 1 if layer.kind in ("tag", "skip") else (3 if innermost else 2)
        reader.expect(wanted, f"version of layer {index} ({layer.kind})")
    reader.string("input_rgb_image_sized")
    mean = [reader.real() for _ in range(3)]
    reader.expect(CHIP_SIZE, "input rows")
    reader.expect(CHIP_SIZE, "input columns")
    weights: Weights = {"input.mean": np.asarray(mean, dtype=np.float32)}
    channels, tagged = 3, {}
    for index in range(len(layers) - 1, -1, -1):
        layer = layers[index]
        if layer.kind == "tag":
            tagged[layer.tag] = channels  # a tag over a network writes only its version
            continue
        if layer.kind == "skip":
            channels = tagged[layer.tag]
            continue
        out = _details(reader, layer, index, channels, weights)
        channels = max(out, tagged[layer.tag]) if layer.kind == "add_prev" else out
        reader.boolean(), reader.boolean(), reader.boolean()
        reader.tensor(), reader.tensor(), reader.tensor()
        if index == len(layers) - 1:
            reader.expect(1, "sample expansion factor")
    if reader.pos != len(data):
        raise reader.fail(f"{len(data) - reader.pos} bytes follow the network")
    return weights
