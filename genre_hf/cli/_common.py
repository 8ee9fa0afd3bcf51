"""What several commands share: the environment variables they read, the training options, the model lookup."""

from __future__ import annotations

import argparse
import dataclasses
import os

from genre_hf import hub_calls, settings
from genre_hf.config import FAMILIES, LOSSES
from genre_hf.modeling import MODEL_NAMES

ENVIRONMENT = {  # name -> (what it does, its default)
    "GENRE_HF_MODEL": ("the model (Hub repo id or folder) when --model is not given; for `app`, one per family, comma-separated", "see above"),
    "GENRE_HF_DATA": ("the data when --data is not given; for `app`, a folder whose test movies become examples", "unset"),
    "HF_TOKEN": ("Hub token for private repos and for pushing", "the token saved by `hf auth login`"),
    "HF_ENDPOINT": ("the Hub's address", "https://huggingface.co"),
    "HF_HOME": ("where the Hub cache lives", "~/.cache/huggingface"),
    "HF_HUB_OFFLINE": ("1: use only what is in the Hub cache", "0"),
    "PORT": ("the app's port (GRADIO_SERVER_PORT too)", "7860"),
    "GRADIO_SERVER_NAME": ("the app's address (a Space sets 0.0.0.0)", "127.0.0.1"),
    "GENRE_HF_TRUSTED_PROXIES": ("addresses or networks of reverse proxies whose X-Forwarded-For the app believes "
                                 "(a published Space's app.py sets the private networks)", "none"),
    "TF_CPP_MIN_LOG_LEVEL": ("TensorFlow's C++ log level once it has started", "3: its logs hidden (Python errors still show)"),
    "GENRE_HF_TF_LOGS": ("1: show TensorFlow's start-up lines (oneDNN, CUDA probing), which are otherwise held back", "unset"),
    "GENRE_HF_CACHE": ("where feature caches live when --cache-dir is not given", "$HF_HOME/genre_hf"),
    "GENRE_HF_PRESET_MIRROR": ("a folder with local copies (<name>/) of hf:// encoder presets, used instead of the Hub", "unset"),
    "GENRE_HF_DATA_URL": ("`data`: the address that stands in for GitHub (a mirror serving the same paths)", "https://github.com"),
    "GENRE_HF_DATA_PINS": ("`data`: a pins file to check the files against instead of the upstream's (a mirror of other data; tests)",
                           "the pins in the package"),
    "TF_CONFIG": ("--strategy multiworker: the cluster's workers and this process's task (JSON)", "unset"),
    "GENRE_HF_HUB_CONNECT_TIMEOUT": ("seconds a connection to the Hub may take", f"{hub_calls.CONNECT_TIMEOUT:g}"),
    "GENRE_HF_HUB_TIMEOUT": ("seconds a read from the Hub may take (and an answer slower than 1 kB/s over it is cut off)",
                             f"{hub_calls.READ_TIMEOUT:g}"),
    "GENRE_HF_HUB_DEADLINE": ("seconds a whole Hub call (a download, an upload) may take, retries included", f"{hub_calls.DEADLINE:g}"),
}


TENSORFLOW_ENVIRONMENT = ("TF_CPP_MIN_LOG_LEVEL", "GENRE_HF_TF_LOGS")  # read by every command that starts TensorFlow
HUB_ENVIRONMENT = tuple(hub_calls.VARIABLES.values())  # read by every command that may call the Hub (`hub_calls`)


def environment_help(names: tuple[str, ...]) -> str:
    lines = ["environment variables read (default):"]
    for name in names:
        meaning, default = ENVIRONMENT[name]
        lines.append(f"  {name:<22} {meaning} ({default})")
    return "\n".join(lines)


def model_source(args) -> str:
    """The model a command uses: --model, else the lookup rule (`hub.lookup`)."""
    from genre_hf.hub.lookup import model_sources

    return args.model or model_sources()[0]


def check_data(source: str, split: str | None = None) -> None:
    """The data source recognised (`Source.of` says what is wrong with it), and the split asked for
    found in it when its splits are known without reading it, before TensorFlow starts."""
    from genre_hf.data.loader import check_split, split_names

    check_split(split, split_names(source))


def check_local_model(source: str) -> None:
    """A local model folder's files and config checked before TensorFlow starts (a Hub id is checked when it is downloaded)."""
    from pathlib import Path

    from genre_hf.hub import folder

    path = Path(source).expanduser()
    if path.is_dir():
        folder.check_complete(path)
        folder.read_config(path)


def add_data_argument(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--data", default=os.environ.get("GENRE_HF_DATA"), required="GENRE_HF_DATA" not in os.environ,
                        help=f"{help} (default: $GENRE_HF_DATA)")


def add_training_arguments(parser: argparse.ArgumentParser, out_help: str, out_default: str) -> None:
    """What `train` and `benchmark` share: the data, the output folder and the settings that change what is learned."""
    add_data_argument(parser, "upstream folder, MM-IMDb folder, Parquet file, save_to_disk folder or Hub dataset id")
    parser.add_argument("--out", default=out_default, help=f"{out_help} (default: {out_default})")
    parser.add_argument("--family", choices=tuple(FAMILIES), default="scratch",
                        help="scratch: poster CNN + overview LSTM; pretrained: frozen EfficientNet-Lite0 (ImageNet) + frozen MiniLM")
    parser.add_argument("--columns", default=None, help="column mapping for non-upstream data, e.g. overview=plot,poster=image")
    parser.add_argument("--loss", choices=LOSSES, default=None, help="training objective (default: the config's)")
    parser.add_argument("--epochs", type=int, default=None, help="cap every model's epochs (quick runs)")
    parser.add_argument("--image-size", type=int, choices=(64, 128, 224), default=None,
                        help="poster size in pixels, saved with the model (default: the family's, 64 for the CNN, 320 for EfficientNet-Lite0)")


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", choices=("auto", "memory", "stream"), default="auto",
                        help="features in memory, or streamed from an on-disk cache built once (default auto: in memory "
                             "under 1 GB of features)")
    parser.add_argument("--cache-dir", default=None, help="where feature caches live (default: $GENRE_HF_CACHE, else $HF_HOME/genre_hf)")


def training_config(args, seed: int | None):
    """The config `train` and `benchmark` start from: the family's encoders and the options given."""
    from genre_hf.config import GenreConfig

    config = GenreConfig.for_family(args.family)
    if args.image_size:
        if "image_size" in settings.recorded(config.poster):
            raise ValueError(f"--image-size: the {args.family} family's poster encoder decides the poster size itself")
        config = dataclasses.replace(config, poster=dataclasses.replace(config.poster, image_size=args.image_size))
    training = config.training
    if args.loss:
        training = dataclasses.replace(training, loss=args.loss)
    if seed is not None:
        training = dataclasses.replace(training, seed=seed)
    config = dataclasses.replace(config, training=training)
    if args.epochs is not None:
        if args.epochs < 1:
            raise ValueError(f"--epochs must be at least 1, not {args.epochs}")
        config = dataclasses.replace(config, **{section: dataclasses.replace(getattr(config, section), epochs=min(config.epochs(section), args.epochs))
                                                for section in MODEL_NAMES})
    found = config.problems(trained=False)  # before training: a config out of range is refused in words
    if found:
        raise ValueError("the settings are out of range: " + "; ".join(found))
    return config
