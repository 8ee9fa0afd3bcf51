"""The app in a real browser (Debian's chromium driven by Playwright): upload, type, click, read the panels."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
MODELS = ("poster", "overview", "fusion")


@contextmanager
def open_page(url: str, height: int = 1600, width: int = 1400):
    """The app open in chromium; the browser closes after."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url)
            yield page
        finally:
            browser.close()


def enter_movie(page, poster, overview: str) -> None:
    page.locator("#poster input[type=file]").set_input_files(str(poster))
    page.locator("#poster img").first.wait_for(timeout=15_000)  # the upload is done
    page.locator("#overview textarea").fill(overview)


@contextmanager
def page_with_movie(url: str, poster, overview: str, height: int = 1600):
    """The app open in chromium with a poster uploaded and an overview typed; the browser closes after."""
    with open_page(url, height) as page:
        enter_movie(page, poster, overview)
        yield page


@pytest.fixture(scope="module")
def app_url(tiny_model_dir, data_dir):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no browser at {CHROMIUM}: install Debian's chromium (apt-get install chromium) to run this test")
    from genre_hf import GenreClassifier
    from genre_hf.app.page import build_demo
    from genre_hf.app.serve import launch

    port = free_port()
    classifier = GenreClassifier.from_pretrained(tiny_model_dir)
    demo = build_demo(classifier, examples_dir=data_dir)
    _, url, _ = launch(demo, port=port, prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()


def test_upload_type_click_and_read_three_panels(app_url, tiny_model_dir, sample_movie, tmp_path):
    from genre_hf.config import GenreConfig

    genres = GenreConfig.load(tiny_model_dir / "config.json").genres
    poster, overview, _ = sample_movie
    screenshot = tmp_path / "app.png"
    with page_with_movie(app_url, poster, overview) as page:
        page.get_by_role("button", name="Predict genres").click()
        for name in MODELS:
            page.locator(f"#genres-{name}").get_by_text("Predicted:").wait_for(timeout=30_000)
        panels = {name: page.locator(f"#panel-{name}").inner_text() for name in MODELS}
        agreement = page.locator("#agreement").inner_text()
        page.screenshot(path=str(screenshot), full_page=True)

    titles = {"poster": "Poster CNN", "overview": "Overview LSTM", "fusion": "Fusion"}
    for name, text in panels.items():
        assert titles[name] in text and "Needs" not in text
        shown = [genre for genre in genres if genre in text]
        assert len(shown) >= 5, f"{name} panel shows too few genres: {text!r}"  # the top 5 with probabilities
        assert "%" in text
    assert "Agree on:" in agreement or "No model puts any genre" in agreement
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    print(f"screenshot: {screenshot}")
