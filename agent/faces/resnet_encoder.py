"""dlib's face recognition ResNet, evaluated with numpy (im2col + one BLAS matrix product per convolution).

The dlib-bin wheel multiplies matrices without BLAS: one 150x150 chip costs 100-160 ms there.
The same network, with the same weights (converted from the installed ``.dat`` at install
time, :mod:`agent.faces.resnet_weights`), costs about a quarter of that through numpy's
OpenBLAS. It computes what dlib computes, layer for layer and in float32:

* input: per channel ``(value - mean) / 256`` with the means stored in the model file;
* ``con``: correlation with the stored filters plus bias, zero padding of ``size // 2`` when
  the stride is 1 and none otherwise, output side ``(side + 2 * pad - size) // stride + 1``;
* ``affine``: ``x * gamma + beta`` per channel; ``relu``: ``max(x, 0)``;
* ``max_pool``/``avg_pool``: windows without padding, the average summed in row order;
  ``avg_pool`` of size 0 is ``avg_pool_everything`` (the mean of each channel);
* ``add_prev``: the sum of the input and the tagged tensor; when their channel counts or
  sides differ the result has the larger of each, missing values counting as zero (dlib's
  ``tt::add``), e.g. a 3x3 strided convolution beside a 4x4 average pool;
* ``fc`` (no bias): ``x @ weights``; the descriptor is that output, not normalised.

Only the order of additions inside the matrix products differs from dlib, so the
descriptors agree to float32 rounding (``tests/faces/test_resnet_encoder.py`` measures it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
from threadpoolctl import ThreadpoolController

from agent.errors import FaceEngineError
from agent.faces.resnet_architecture import CHIP_SIZE, DESCRIPTOR_SIZE, Layer, network_layers

Tensor = npt.NDArray[np.float32]
"""Activations, batch x rows x columns x channels (channels last, C order)."""

BLAS_THREADS = 1
"""OpenBLAS threads per forward pass, decided by measurement (tests/benchmarks/bench_encoder.py,
2 cores shared with other work, 2026-12-06): one thread p50 16-26 ms / p95 22-27 ms per chip
alone and 50-54 / 59-60 ms with two processes encoding at once; two threads p50 30-142 ms /
p95 700-760 ms alone and about 1 s two at once (OpenBLAS's threads wait for a busy core).
The identification child and the live loop encode at the same time, so every pass is pinned
to one thread; one thread also makes a chip's descriptor repeat bit for bit."""

_blas = ThreadpoolController()
_blas_lock = threading.Lock()
"""threadpoolctl's limit is process-wide: one forward pass at a time sets and restores it, so a
pass in one thread never runs with the thread count another thread restored. Any other code
that limits BLAS threads in this process must take this lock too."""


def windows(x: Tensor, size: int, stride: int) -> npt.NDArray[np.float32]:
    """A view batch x out_rows x out_cols x size x size x channels of ``x``'s sliding windows."""
    batch, rows, cols, channels = x.shape
    out_rows, out_cols = (rows - size) // stride + 1, (cols - size) // stride + 1
    sb, sr, sc, sk = x.strides
    return np.lib.stride_tricks.as_strided(
        x,
        shape=(batch, out_rows, out_cols, size, size, channels),
        strides=(sb, sr * stride, sc * stride, sr, sc, sk),
        writeable=False,
    )


def conv(x: Tensor, matrix: Tensor, bias: Tensor, size: int, stride: int) -> Tensor:
    """dlib's ``con_`` with ``matrix`` = filters as (size * size * in_channels) x out_channels."""
    pad = 0 if stride != 1 else size // 2
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    view = windows(x, size, stride)
    batch, out_rows, out_cols = view.shape[:3]
    columns = view.reshape(batch * out_rows * out_cols, -1)  # im2col: one copy
    out = columns @ matrix
    out += bias
    return out.reshape(batch, out_rows, out_cols, -1)


def max_pool(x: Tensor, size: int, stride: int) -> Tensor:
    """dlib's ``max_pool`` without padding."""
    result: Tensor = windows(x, size, stride).max(axis=(3, 4))
    return result


def avg_pool(x: Tensor, size: int, stride: int) -> Tensor:
    """dlib's ``avg_pool`` without padding (``size`` 0: ``avg_pool_everything``), summed in row order."""
    if size == 0:
        size, stride = x.shape[1], 1
        if x.shape[2] != size:
            raise ValueError("avg_pool_everything of a non-square tensor")
    view = windows(x, size, stride)
    total = view[:, :, :, 0, 0].copy()
    for r in range(size):
        for c in range(size):
            if r or c:
                total += view[:, :, :, r, c]
    total /= np.float32(size * size)
    return total


def add_prev(x: Tensor, tagged: Tensor) -> Tensor:
    """dlib's ``add_prev``: the sum, at the larger of each size, missing values counting as zero."""
    if x.shape == tagged.shape:
        return x + tagged
    shape = tuple(max(a, b) for a, b in zip(x.shape, tagged.shape, strict=True))
    out = np.zeros(shape, dtype=np.float32)
    out[: x.shape[0], : x.shape[1], : x.shape[2], : x.shape[3]] += x
    out[: tagged.shape[0], : tagged.shape[1], : tagged.shape[2], : tagged.shape[3]] += tagged
    return out


Step = Callable[[Tensor, dict[int, Tensor]], Tensor]


def _step(layer: Layer, index: int, weights: dict[str, Tensor]) -> Step:
    """The forward function of one layer, with its weights in matmul-ready layouts."""
    if layer.kind == "con":
        filters = weights[f"{index}.filters"]  # out x in x rows x cols, dlib's layout
        matrix = np.ascontiguousarray(filters.transpose(2, 3, 1, 0).reshape(-1, filters.shape[0]))
        bias = np.ascontiguousarray(weights[f"{index}.biases"])
        return lambda x, _: conv(x, matrix, bias, layer.size, layer.stride)
    if layer.kind == "affine":
        gamma, beta = weights[f"{index}.gamma"], weights[f"{index}.beta"]

        def affine(x: Tensor, _: dict[int, Tensor]) -> Tensor:
            x = x * gamma
            x += beta
            return x

        return affine
    if layer.kind == "relu":
        return lambda x, _: np.maximum(x, np.float32(0.0), out=x)
    if layer.kind == "max_pool":
        return lambda x, _: max_pool(x, layer.size, layer.stride)
    if layer.kind == "avg_pool":
        return lambda x, _: avg_pool(x, layer.size, layer.stride)
    if layer.kind == "add_prev":
        return lambda x, tags: add_prev(x, tags[layer.tag])
    if layer.kind == "tag":

        def tag(x: Tensor, tags: dict[int, Tensor]) -> Tensor:
            tags[layer.tag] = x
            return x.copy()  # the layers above may work in place; the tag keeps its value

        return tag
    if layer.kind == "skip":
        return lambda _, tags: tags[layer.tag]
    matrix = np.ascontiguousarray(weights[f"{index}.weights"])
    return lambda x, _: (x.reshape(x.shape[0], -1) @ matrix).reshape(x.shape[0], 1, 1, -1)


class NumpyFaceEncoder:
    """dlib's face recognition ResNet v1 in numpy: 150x150 RGB chip -> 128-d descriptor.

    Raises:
        FaceEngineError: when ``weights`` lack a parameter of the network or have the wrong shape.
    """

    def __init__(self, weights: dict[str, Tensor]) -> None:
        try:
            self._mean = np.asarray(weights["input.mean"], dtype=np.float32).reshape(3)
            layers = network_layers()
            self._steps = [_step(layers[i], i, weights) for i in range(len(layers) - 1, -1, -1)]
            probe = self.descriptors([np.zeros((CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)])
        except (KeyError, ValueError) as exc:
            raise FaceEngineError(f"the converted face encoder weights are incomplete ({exc})") from None
        if probe.shape != (1, DESCRIPTOR_SIZE) or not np.isfinite(probe).all():
            raise FaceEngineError("the converted face encoder weights do not give a 128-d descriptor")

    def descriptors(self, chips: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float64]:
        """The descriptors (n x 128, float64 of the float32 results) of aligned 150x150 RGB chips.

        A batch's descriptors may differ from one-by-one ones in the last bits (OpenBLAS splits
        larger products differently); :meth:`descriptor` is the reproducible form.
        """
        x = self._input(chips)
        with _blas_lock, _blas.limit(limits=BLAS_THREADS, user_api="blas"):
            return self._forward(x)

    def _input(self, chips: Sequence[npt.NDArray[np.uint8]]) -> Tensor:
        """dlib's input layer: per channel (value - mean) / 256, channels last."""
        batch = np.stack([np.asarray(chip, dtype=np.uint8) for chip in chips])
        if batch.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"face chips must be {CHIP_SIZE}x{CHIP_SIZE} RGB, not {batch.shape[1:]}")
        x: Tensor = batch.astype(np.float32)
        x -= self._mean
        x /= np.float32(256.0)
        return x

    def _forward(self, x: Tensor) -> npt.NDArray[np.float64]:
        """The layers, on whatever BLAS threads are set."""
        tags: dict[int, Tensor] = {}
        for step in self._steps:
            x = step(x, tags)
        return x.reshape(x.shape[0], DESCRIPTOR_SIZE).astype(np.float64)

    def descriptor(self, chip: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
        """The 128-d descriptor of one aligned 150x150 RGB chip (as dlib's ``get_face_chip`` makes)."""
        result: npt.NDArray[np.float64] = self.descriptors([chip])[0]
        return result
