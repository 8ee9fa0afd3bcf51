"""The Gradio Space: compare what the poster alone, the overview alone and both together say.

    GENRE_HF_MODEL=user/imdb-genres python app.py --port 7860

The model (a Hub repo id or a local folder) comes from $GENRE_HF_MODEL, else the Space's
`space_config.json`, else `artifacts/model`, else the published repo; it is loaded once, at start.
$GENRE_HF_DATA (a folder in the upstream layout) adds example movies from the validation split.
"""

import argparse
import os
import sys

# Before gradio and huggingface_hub are imported: no analytics, telemetry or version checks.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Serve the genre_hf comparison app.")
    # A Space sets GRADIO_SERVER_NAME=0.0.0.0; run locally, the app stays on this machine.
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), help="address to serve on")
    port = os.environ.get("PORT") or os.environ.get("GRADIO_SERVER_PORT") or 7860
    parser.add_argument("--port", type=int, default=int(port), help="port (default: $PORT or 7860)")
    args = parser.parse_args(argv)

    from genre_hf import GenreClassifier
    from genre_hf.space import build_demo, launch, model_source

    source = model_source()
    print(f"Loading the model from {source}", flush=True)
    try:
        classifier = GenreClassifier.from_pretrained(source)
    except Exception as error:  # no model, no app: say why in one line
        sys.exit(f"Could not load a genre_hf model from {source!r}: {error}")
    classifier.compile_for_serving()
    launch(build_demo(classifier, examples_dir=os.environ.get("GENRE_HF_DATA"), source=source), args.host, args.port)


if __name__ == "__main__":
    main()
