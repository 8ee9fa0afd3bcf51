"""What the frozen KerasHub encoders share: a preset pinned at training by its Hub revision and weights
hash (the runtime its pass runs on is `_frozen.py`'s)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from genre_hf.extras import require
from genre_hf.modeling import presets
from genre_hf.modeling.encoders._frozen import FrozenEncoder, FrozenSettings
from genre_hf.settings import setting

PRESET_LICENSES = {"sentence-transformers/all-MiniLM-L6-v2": "Apache-2.0"}  # Hub id -> licence, for the card


@dataclass
class PresetSettings(FrozenSettings):
    """A pretrained KerasHub backbone given by its preset (hf://owner/name or a local preset folder),
    frozen: its features go through a dropout and a dense trunk trained here."""

    kind: str = setting("keras_hub", choices=("keras_hub",))
    preset: str = setting("", chars=500)
    revision: str = setting("", pattern="[0-9a-f]{40}", recorded=True)  # the Hub commit trained with (empty: a local folder)
    sha256: str = setting("", pattern="[0-9a-f]{64}", recorded=True)  # its weights file's: other weights are refused


class KerasHubPreset(FrozenEncoder):
    """A preset given by its settings' `preset`, pinned by `revision` and `sha256` (recorded at training).

    A model folder keeps only these (config.json): the backbone comes from the Hub cache (or the
    preset folder) at exactly that revision and those weights, never others. `presets.resolve`
    answers once per process, so a prediction does not ask the Hub again.
    """

    kind = "keras_hub"

    @classmethod
    def _require_backbone(cls, settings) -> None:
        for module in ("keras_hub", "tensorflow_text"):
            require(module, f"a model with a pretrained KerasHub {cls.role} ({settings.preset or 'no preset'})")

    @classmethod
    def resolved(cls, settings):
        """(local folder, revision, weights sha256) of the settings' preset."""
        cls._require_backbone(settings)
        if not settings.preset:
            raise ValueError(f"{cls.modality}.kind 'keras_hub' needs {cls.modality}.preset: hf://owner/name or a local KerasHub preset folder")
        return presets.resolve(settings.preset, settings.revision, settings.sha256, role=cls.role)

    @classmethod
    def pinned(cls, settings):
        _, revision, sha256 = cls.resolved(settings)
        settings = replace(settings, revision=revision, sha256=sha256)
        return replace(settings, converted_sha256=cls.converted_pin(settings))

    @property
    def preset_name(self) -> str:
        return self.settings.preset.rstrip("/").rsplit("/", 1)[-1]

    @property
    def title(self) -> str:
        return f"{self.modality.capitalize()} {self.preset_name}"

    @property
    def folder(self):
        return self.resolved(self.settings)[0]

    def feature_key(self) -> dict:
        settings = self.settings
        return {f"{self.modality}_encoder_pins": [settings.preset, settings.revision, settings.sha256, *self.feature_settings()]}

    def unavailable(self) -> str | None:
        if self.converted_content is not None and not self.needs_preset():
            return None
        try:
            self.resolved(self.settings)
        except ValueError as error:
            return str(error)
        return None

    def card_facts(self) -> dict:
        settings = self.settings
        hub = settings.preset.removeprefix(presets.HF_PREFIX) if settings.preset.startswith(presets.HF_PREFIX) else None
        name, link = hub or self.preset_name, f"https://huggingface.co/{hub}" if hub else settings.preset
        licence = PRESET_LICENSES.get(hub, "see the preset's own card")
        revision = f"revision `{settings.revision}`, " if settings.revision else ""
        return {"title": self.title, "description": (
            f"the {self.modality} encoded by the pretrained [{name}]({link}) (licence: {licence}), "
            f"loaded through KerasHub from `{settings.preset}` and kept frozen ({revision}weights sha256 `{settings.sha256[:12]}...`"
            f"{self.card_details()}){self.runtime_sentence()}, its features into a head trained here.")}

    def needs_preset(self) -> bool:
        """Whether it still reads the preset's files with its converted pass loaded from a model folder."""
        return False

    def card_details(self) -> str:
        """More the card says about this encoder's input, after its pins."""
        return ""
