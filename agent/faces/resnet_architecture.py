"""The layers of dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1``).

dlib declares the network as a C++ type (``anet_type`` in dlib's ``dnn_face_recognition_ex.cpp``)::

    residual<block,N,BN,S>      = add_prev1<block<N,BN,1,tag1<S>>>
    residual_down<block,N,BN,S> = add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,BN,2,tag1<S>>>>>>
    block<N,BN,stride,S>        = BN<con<N,3,3,1,1,relu<BN<con<N,3,3,stride,stride,S>>>>>
    ares<N,S> = relu<residual<block,N,affine,S>>;  ares_down<N,S> = relu<residual_down<block,N,affine,S>>
    anet_type = loss_metric<fc_no_bias<128,avg_pool_everything<alevel0<...<alevel4<
                max_pool<3,3,2,2,relu<affine<con<32,7,7,2,2,input_rgb_image_sized<150>>>>>>>>>>>>

:func:`network_layers` spells that type out as a flat list, outermost layer first, which is
also the order of the layers' headers in the serialised ``.dat`` file. Both the converter
(:mod:`agent.faces.resnet_weights`) and the numpy forward pass
(:mod:`agent.faces.resnet_encoder`) walk this one list, so they cannot disagree on the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LayerKind = Literal["con", "affine", "relu", "max_pool", "avg_pool", "add_prev", "tag", "skip", "fc"]

CHIP_SIZE = 150
"""Side of the aligned face chip the network reads (``input_rgb_image_sized<150>``)."""

DESCRIPTOR_SIZE = 128
"""Length of the descriptor (``fc_no_bias<128, ...>``)."""


@dataclass(frozen=True)
class Layer:
    """One element of the network type, as dlib serialises it.

    Attributes:
        kind: the layer (``tag``/``skip`` are dlib's ``add_tag_layer``/``add_skip_layer``).
        filters: output channels of ``con``/``fc``.
        size: kernel or window side (``con``, pools; 0 is ``avg_pool_everything``).
        stride: stride of ``con`` and the pools.
        tag: the tag number of ``tag``, ``skip`` and ``add_prev``.
    """

    kind: LayerKind
    filters: int = 0
    size: int = 0
    stride: int = 1
    tag: int = 0

    @property
    def padding(self) -> int:
        """dlib's default padding for this kernel: none when strided, else half the kernel."""
        return 0 if self.stride != 1 else self.size // 2


def _block(n: int, stride: int) -> list[Layer]:
    return [
        Layer("affine"),
        Layer("con", filters=n, size=3, stride=1),
        Layer("relu"),
        Layer("affine"),
        Layer("con", filters=n, size=3, stride=stride),
    ]


def _ares(n: int) -> list[Layer]:
    return [Layer("relu"), Layer("add_prev", tag=1), *_block(n, 1), Layer("tag", tag=1)]


def _ares_down(n: int) -> list[Layer]:
    return [
        Layer("relu"),
        Layer("add_prev", tag=2),
        Layer("avg_pool", size=2, stride=2),
        Layer("skip", tag=1),
        Layer("tag", tag=2),
        *_block(n, 2),
        Layer("tag", tag=1),
    ]


def network_layers() -> list[Layer]:
    """The network's layers, outermost (the 128-d fully connected layer) first, input last excluded."""
    levels: list[Layer] = []
    levels += _ares_down(256)  # alevel0
    levels += _ares(256) + _ares(256) + _ares_down(256)  # alevel1
    levels += _ares(128) + _ares(128) + _ares_down(128)  # alevel2
    levels += _ares(64) + _ares(64) + _ares(64) + _ares_down(64)  # alevel3
    levels += _ares(32) + _ares(32) + _ares(32)  # alevel4
    return [
        Layer("fc", filters=DESCRIPTOR_SIZE),
        Layer("avg_pool", size=0, stride=1),  # avg_pool_everything
        *levels,
        Layer("max_pool", size=3, stride=2),
        Layer("relu"),
        Layer("affine"),
        Layer("con", filters=32, size=7, stride=2),
    ]
