"""Bounded soak of the app's /predict API on 127.0.0.1: sequential calls, then concurrent ones.

    .venv/bin/python benchmarks/soak.py [MODEL] [--sequential 1000] [--concurrent 100]

Starts `genre-hf app` on a free port, calls it with real posters and overviews (and, one call in
ten, a bad input: a text file as poster, an empty overview, a 16-bit PNG), and prints the success
count, p50/p95 latency per phase, and the server's resident memory before, between and after.
A call succeeds when the answer is the documented one for its input (bad inputs included).
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "imdb-multimodal"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def movies(count: int) -> list[tuple[str, str]]:
    import csv

    with open(DATA / "IMDB_overview_genres.csv", newline="", encoding="utf-8") as handle:
        rows = [row for _, row in zip(range(count), csv.DictReader(handle))]
    return [(str(DATA / "Images" / f"{row['Id']}.jpg"), row["Overview"]) for row in rows]


def bad_inputs(folder: Path) -> list[tuple[str | None, str, str]]:
    """(poster, overview, what the answer must contain)."""
    import numpy as np
    from PIL import Image

    text = folder / "not_a_poster.jpg"
    text.write_text("hello")
    deep = folder / "deep.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 65535, (600, 400), dtype=np.uint16)).save(deep)
    return [(str(text), "A heist.", "Poster ignored"), (None, "   ", "Give a poster"), (str(deep), "", "probabilities")]


def call(client, poster, overview, expect):
    from gradio_client import handle_file

    started = time.perf_counter()
    try:
        result = client.predict(handle_file(poster) if poster else None, overview, api_name="/predict")
        ok = expect in str(result) if expect else "probabilities" in result["fusion"]
    except Exception:
        ok = False
    return ok, 1000 * (time.perf_counter() - started)


def phase(name, client, jobs, workers: int, pid: int) -> None:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda job: call(client, *job), jobs))
    latencies = sorted(ms for _, ms in results)
    ok = sum(1 for good, _ in results if good)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(f"{name:>22}: {ok}/{len(results)} succeeded, p50 {statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms, "
          f"server RSS {rss_mb(pid):.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default=str(ROOT / "artifacts" / "model"))
    parser.add_argument("--sequential", type=int, default=1000)
    parser.add_argument("--concurrent", type=int, default=100)
    args = parser.parse_args()
    from gradio_client import Client

    port = free_port()
    env = dict(os.environ, GENRE_HF_MODEL=str(Path(args.model).resolve()), GRADIO_ANALYTICS_ENABLED="False",
               GENRE_HF_CLIENT_UPLOADS="100000", GENRE_HF_CLIENT_UPLOAD_MB="100000")  # one client sends every call here
    server = subprocess.Popen([sys.executable, "-m", "genre_hf", "app", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in server.stdout:
            if "Running on local URL" in line:
                break
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        with tempfile.TemporaryDirectory() as tmp:
            good = [(poster, overview, None) for poster, overview in movies(200)]
            bad = bad_inputs(Path(tmp))
            jobs = [bad[i % len(bad)] if i % 10 == 9 else good[i % len(good)] for i in range(args.sequential)]
            call(client, *good[0])  # the first request warms Gradio up
            print(f"{'server RSS at start':>22}: {rss_mb(server.pid):.0f} MB")
            phase(f"{args.sequential} sequential", client, jobs, 1, server.pid)
            phase(f"{args.concurrent} concurrent", client, jobs[: args.concurrent], args.concurrent, server.pid)
            phase(f"{args.sequential} sequential again", client, jobs, 1, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
