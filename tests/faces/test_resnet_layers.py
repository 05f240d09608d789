"""Layer rules of the numpy ResNet (agent/faces/resnet_encoder.py), each against a plain loop or by hand.

These would fail if a rule were wrong: the filter layout, padding and output sizes of a
convolution, the zero-filled sum of ``add_prev`` over tensors of different sizes, the pools.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from agent.faces import resnet_encoder as net
from agent.faces.resnet_architecture import Layer, network_layers

Array = npt.NDArray[np.float32]


def _random(shape: tuple[int, ...], seed: int = 0) -> Array:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _direct_conv(x: Array, filters: Array, bias: Array, stride: int, pad: int) -> npt.NDArray[np.float64]:
    """Correlation by definition, in float64: filters out x in x rows x cols (dlib's layout)."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out_ch, _, size, _ = filters.shape
    rows = (xp.shape[1] - size) // stride + 1
    cols = (xp.shape[2] - size) // stride + 1
    out = np.zeros((x.shape[0], rows, cols, out_ch))
    for r in range(rows):
        for c in range(cols):
            patch = xp[:, r * stride : r * stride + size, c * stride : c * stride + size, :]
            out[:, r, c, :] = np.einsum("bijk,okij->bo", patch, filters) + bias
    return out


@pytest.mark.parametrize(("side", "size", "stride", "expected"), [(9, 3, 1, 9), (9, 3, 2, 4), (15, 7, 2, 5)])
def test_convolution_matches_the_definition_with_dlibs_padding_and_sizes(
    side: int, size: int, stride: int, expected: int
) -> None:
    x = _random((2, side, side, 3))
    filters = _random((4, 3, size, size), seed=1)
    bias = _random((4,), seed=2)
    layer = Layer("con", filters=4, size=size, stride=stride)
    step = net._step(layer, 7, {"7.filters": filters, "7.biases": bias})
    out = step(x, {})
    assert out.shape == (2, expected, expected, 4)
    want = _direct_conv(x, filters, bias, stride, layer.padding)
    assert np.abs(out - want).max() < 1e-4


def test_network_sizes_follow_dlibs_rules_150_72_35_17_8_4_2() -> None:
    """The 7x7/2 convolution gives 72, the 3x3/2 max pool 35, the strided blocks 17, 8, then
    3x3 beside a 4x4 average pool (4 after add_prev), then 1x1 beside 2x2 (2)."""
    assert net.windows(np.zeros((1, 150, 150, 1), np.float32), 7, 2).shape[1] == 72
    assert net.max_pool(np.zeros((1, 72, 72, 1), np.float32), 3, 2).shape[1] == 35
    sides = [35]
    for _ in range(4):
        side = sides[-1]
        conv_side = (side - 3) // 2 + 1
        pool_side = (side - 2) // 2 + 1
        sides.append(max(conv_side, pool_side))
    assert sides == [35, 17, 8, 4, 2]
    strided = [layer for layer in network_layers() if layer.kind == "con" and layer.stride == 2]
    assert len(strided) == 5  # the stem and the four downsampling blocks


def test_add_prev_of_different_sizes_fills_the_missing_values_with_zero() -> None:
    x = _random((1, 3, 3, 4))  # a 3x3 strided convolution, 4 channels
    tagged = _random((1, 4, 4, 2), seed=1)  # beside a 4x4 average pool of 2 channels
    out = net.add_prev(x, tagged)
    assert out.shape == (1, 4, 4, 4)
    want = np.zeros((1, 4, 4, 4), np.float32)
    want[:, :3, :3, :] += x
    want[:, :, :, :2] += tagged
    assert np.array_equal(out, want)
    assert np.array_equal(out[0, 3, 3, 2:], [0.0, 0.0])  # in neither tensor
    assert np.array_equal(out[0, 3, 0, :2], tagged[0, 3, 0])  # the pool's row 3 alone
    assert np.array_equal(net.add_prev(x, x), x + x)


def test_pools_without_padding_and_avg_pool_everything() -> None:
    x = np.arange(2 * 5 * 5 * 3, dtype=np.float32).reshape(2, 5, 5, 3)
    avg = net.avg_pool(x, 2, 2)
    assert avg.shape == (2, 2, 2, 3)
    assert np.array_equal(avg[1, 1, 0], x[1, 2:4, 0:2].mean(axis=(0, 1)))
    mx = net.max_pool(x, 3, 2)
    assert mx.shape == (2, 2, 2, 3)
    assert np.array_equal(mx[0, 1, 1], x[0, 4, 4])
    everything = net.avg_pool(x[:, :2, :2], 0, 1)
    assert everything.shape == (2, 1, 1, 3)
    assert np.allclose(everything[:, 0, 0], x[:, :2, :2].mean(axis=(1, 2)))
