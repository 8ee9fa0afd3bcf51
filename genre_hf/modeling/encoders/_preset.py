"""What the frozen KerasHub encoders share: a preset pinned at training by its Hub revision and weights hash."""

from __future__ import annotations

from genre_hf.config import GenreConfig
from genre_hf.extras import require
from genre_hf.modeling import presets
from genre_hf.modeling.encoders._base import Encoder

PRESET_LICENSES = {"sentence-transformers/all-MiniLM-L6-v2": "Apache-2.0"}  # Hub id -> licence, for the card


class KerasHubPreset(Encoder):
    """A preset given by the config's `<prefix>_preset`, pinned by `<prefix>_preset_revision` and
    `<prefix>_preset_sha256` (recorded at training).

    A model folder keeps only these (config.json): the backbone comes from the Hub cache (or the
    preset folder) at exactly that revision and those weights, never others. `presets.resolve`
    answers once per process, so a prediction does not ask the Hub again.
    """

    kind = "keras_hub"
    frozen = True
    prefix: str  # "text" or "image"
    role: str  # how errors name it, e.g. "text encoder"

    def __init__(self, config: GenreConfig, tokenizer=None):
        super().__init__(config, tokenizer)
        self._require_backbone(config)

    @classmethod
    def _require_backbone(cls, config: GenreConfig) -> None:
        """A folder of this family loads only with the pretrained extra, and says so at once."""
        for module in ("keras_hub", "tensorflow_text"):
            require(module, f"a model with a pretrained KerasHub {cls.role} ({getattr(config, f'{cls.prefix}_preset') or 'no preset'})")

    @classmethod
    def resolved(cls, config: GenreConfig):
        """(local folder, revision, weights sha256) of the config's preset."""
        cls._require_backbone(config)
        preset = getattr(config, f"{cls.prefix}_preset")
        if not preset:
            raise ValueError(f"{cls.modality}_encoder 'keras_hub' needs {cls.prefix}_preset: hf://owner/name or a local KerasHub preset folder")
        pins = getattr(config, f"{cls.prefix}_preset_revision"), getattr(config, f"{cls.prefix}_preset_sha256")
        return presets.resolve(preset, *pins, role=cls.role)

    @classmethod
    def pinned_settings(cls, config: GenreConfig) -> dict:
        _, revision, sha256 = cls.resolved(config)
        return {f"{cls.prefix}_preset_revision": revision, f"{cls.prefix}_preset_sha256": sha256}

    @property
    def preset(self) -> str:
        return getattr(self.config, f"{self.prefix}_preset")

    @property
    def pins(self) -> tuple[str, str]:
        """(revision, weights sha256) the model was trained with; empty before training."""
        return getattr(self.config, f"{self.prefix}_preset_revision"), getattr(self.config, f"{self.prefix}_preset_sha256")

    @property
    def preset_name(self) -> str:
        return self.preset.rstrip("/").rsplit("/", 1)[-1]

    @property
    def title(self) -> str:
        return f"{self.modality.capitalize()} {self.preset_name}"

    @property
    def folder(self):
        return self.resolved(self.config)[0]

    def unavailable(self) -> str | None:
        try:
            self.resolved(self.config)
        except ValueError as error:
            return str(error)
        return None

    def card_facts(self) -> dict:
        hub = self.preset.removeprefix("hf://") if self.preset.startswith("hf://") else None
        return {
            "title": self.title,
            "name": hub or self.preset_name,
            "link": f"https://huggingface.co/{hub}" if hub else self.preset,
            "license": PRESET_LICENSES.get(hub, "see the preset's own card"),
        }
