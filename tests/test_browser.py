"""The app in a real browser (Debian's chromium driven by Playwright): upload, type, click, read the panels."""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.page_layout import look, screenshots_folder

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
MODELS = ("poster", "overview", "fusion")


@contextmanager
def open_page(url: str, height: int = 1600, width: int = 1400):
    """The app open in chromium; the browser closes after. `page.console` collects what the page's
    scripts warn about or fail on ("warning: ...", "error: ...")."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.console = []
            page.on("console", lambda message: message.type in ("warning", "error") and page.console.append(f"{message.type}: {message.text}"))
            page.goto(url)
            yield page
        finally:
            browser.close()


def explain(page) -> None:
    """Open Explain (if closed) and explain the movie on the page for its top genre."""
    if not page.locator("#explain-button").is_visible():
        page.get_by_text("Explain: why each model says what it says").click()
    page.locator("#explain-button").click()
    page.locator("#explain-status").get_by_text("Explaining").wait_for(timeout=60_000)


def explain_shown(page) -> dict:
    """What the Explain section shows: its status, heat maps, words and chart."""
    return {
        "status": page.locator("#explain-status").inner_text().strip(),
        "heat maps": page.locator("#explain [id^=explain-heat-] img").count(),
        "words": page.locator("#explain [id^=explain-words-] .token .text").count(),
        "chart": page.locator("#explain-chart").inner_text().strip(),
        "genre": page.locator("#explain-genre input").input_value(),
    }


def enter_movie(page, poster, overview: str) -> None:
    page.locator("#poster input[type=file]").set_input_files(str(poster))
    page.locator("#poster img").first.wait_for(timeout=15_000)  # the upload is done
    page.locator("#overview textarea").fill(overview)


@contextmanager
def page_with_movie(url: str, poster, overview: str, height: int = 1600, width: int = 1400):
    """The app open in chromium with a poster uploaded and an overview typed; the browser closes after."""
    with open_page(url, height, width) as page:
        enter_movie(page, poster, overview)
        yield page


@pytest.fixture(scope="module")
def served(tiny_model_dir):
    """The classifier the page serves (in this process, so a test can slow it down)."""
    from genre_hf import GenreClassifier

    return GenreClassifier.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def app_url(served, data_dir):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no browser at {CHROMIUM}: install Debian's chromium (apt-get install chromium) to run this test")
    from genre_hf.app.page import build_demo
    from genre_hf.app.serve import launch

    port = free_port()
    demo = build_demo(served, examples_dir=data_dir)
    _, url, _ = launch(demo, port=port, prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()


def test_upload_type_click_and_read_three_panels(app_url, tiny_model_dir, sample_movie, tmp_path):
    from genre_hf.hub.folder import read_config

    genres = read_config(tiny_model_dir).genres
    poster, overview, _ = sample_movie
    screenshot = tmp_path / "app.png"
    with page_with_movie(app_url, poster, overview) as page:
        page.get_by_role("button", name="Predict genres").click()
        for name in MODELS:
            page.locator(f"#genres-{name}").get_by_text("Predicted:").wait_for(timeout=30_000)
        panels = {name: page.locator(f"#panel-{name}").inner_text() for name in MODELS}
        agreement = page.locator("#verdict").inner_text()
        table = page.locator("#comparison-table").inner_text()
        cells = page.locator("#comparison-table td.listed, #comparison-table td.unlisted").evaluate_all(
            "(cells) => cells.map((c) => [c.className, c.querySelector('b') ? c.querySelector('b').innerText : c.innerText,"
            " c.querySelector('.word') ? c.querySelector('.word').innerText : null])")
        page.screenshot(path=str(screenshot), full_page=True)

    titles = {"poster": "Poster CNN", "overview": "Overview LSTM", "fusion": "Fusion"}
    for name, text in panels.items():
        assert titles[name] in text and "Needs" not in text
        shown = [genre for genre in genres if genre in text]
        assert len(shown) >= 5, f"{name} panel shows too few genres: {text!r}"  # the top 5 with probabilities
        assert "%" in text
    assert "All three:" in agreement or "only:" in agreement or "No model lists a genre" in agreement
    assert table.split("\n")[0].split() == ["Genre", "Poster", "Overview", "Fusion"]  # no true genres for a visitor's own movie
    assert "%" in table
    from genre_hf.app.compare import certainty

    # The word of certainty agrees with the listing: a listed genre has one of the listed words, an unlisted one none.
    assert cells and all(word == (certainty(int(percent[:-1]) / 100, listed=True) if kind == "listed" else None)
                         for kind, percent, word in cells), cells
    assert any(kind == "unlisted" for kind, _, _ in cells) and "long shot" not in table
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    print(f"screenshot: {screenshot}")


VIEWPORTS = {"laptop": (1280, 800), "phone": (390, 844)}


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_each_state_reads_cleanly_on_a_laptop_and_a_phone(app_url, viewport, tiny_model_dir, tmp_path):
    """Screenshots of the empty page, an example predicted, Explain open and About, each checked for
    overflow, broken words, clipped and overlapping elements (the poster box's upload strip, the
    Explain chart's title and labels); an example's answers and true genres come into view; no server
    path on the page; the About tab's client snippet names the address the page is served at; the
    page's scripts warn of nothing (a call with more arguments than its endpoint takes, for one)."""
    width, height = VIEWPORTS[viewport]
    folder = screenshots_folder(tmp_path)
    with open_page(app_url, height, width) as page:
        look(page, folder, f"{viewport}-empty")
        page.locator("#example-movies tbody tr").first.click()
        page.locator("#comparison-table table").wait_for(timeout=30_000)
        page.wait_for_function("() => { const r = document.querySelector('#comparison-table table').getBoundingClientRect();"
                               " return r.top >= 0 && r.bottom <= innerHeight + 400 && r.top < innerHeight / 2; }", timeout=10_000)
        verdict = page.locator("#verdict").inner_text()
        assert ", truly " in verdict  # the example's title and true genres, with the answers
        assert page.locator("#comparison-table th").nth(4).inner_text() == "True"
        page.screenshot(path=str(folder / f"{viewport}-example-in-view.png"))
        look(page, folder, f"{viewport}-example")
        explain(page)
        chart = page.locator("#explain-chart tr").all_inner_texts()
        look(page, folder, f"{viewport}-explain")
        page.get_by_role("tab", name="About & benchmark").click()
        page.locator("#about table").first.wait_for(timeout=10_000)
        look(page, folder, f"{viewport}-about")
        text = page.locator("body").inner_text()
        snippet = page.locator("#api-example").inner_text()
        console = page.console
    assert "a local model" in text and str(tiny_model_dir) not in text and "/tmp/" not in text
    assert len(chart) == 6 and all(len(re.findall(r"[+-]\d\.\d\d", row)) == 2 for row in chart)  # six genres, what each input adds
    assert f'Client("{app_url}")' in snippet and "7860" not in app_url
    assert console == []


def test_explain_empties_for_a_new_movie_and_on_clear(app_url):
    """An explanation belongs to the movie it explains: another example, or Clear, empties the section and
    puts the genre back to the top genre."""
    with open_page(app_url, 800, 1280) as page:
        rows = page.locator("#example-movies tbody tr")
        rows.nth(0).click()
        page.locator("#comparison-table table").wait_for(timeout=30_000)
        page.get_by_text("Explain: why each model says what it says").click()
        page.locator("#explain-genre input").click()  # picking a genre explains it
        page.get_by_role("option", name="Comedy").click()
        page.locator("#explain-status").get_by_text("Explaining Comedy").wait_for(timeout=30_000)
        shown = explain_shown(page)
        assert shown["heat maps"] == 2 and shown["words"] and shown["chart"] and shown["genre"] == "Comedy"
        rows.nth(1).click()
        second = page.locator("#example-movies tbody tr").nth(1).inner_text().split("·")[0].strip()
        page.locator("#verdict").get_by_text(second).wait_for(timeout=30_000)
        page.wait_for_timeout(500)
        assert explain_shown(page) == {"status": "", "heat maps": 0, "words": 0, "chart": "", "genre": "Top genre"}
        explain(page)
        assert explain_shown(page)["heat maps"] == 2
        page.get_by_role("button", name="Clear").click()
        page.locator("#comparison-table table").wait_for(state="detached", timeout=10_000)
        page.wait_for_timeout(500)
        assert explain_shown(page) == {"status": "", "heat maps": 0, "words": 0, "chart": "", "genre": "Top genre"}


LABELS_JS = """() => [...document.querySelectorAll('input, textarea, select, [role=radio], [role=combobox]')]
  .filter((el) => el.type !== 'file' && el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden')
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')
                  && !el.closest('label'))
  .map((el) => el.outerHTML.slice(0, 120))"""


def test_the_keyboard_alone_predicts_and_every_input_has_a_label(app_url, sample_movie):
    """Enter in the overview predicts; Tab goes from the overview to Predict; an example's true genres
    go once the visitor writes their own overview; Clear empties everything."""
    _, overview, _ = sample_movie
    with open_page(app_url, 800, 1280) as page:
        page.get_by_text("Explain: why each model says what it says").click()
        assert page.evaluate(LABELS_JS) == []
        box = page.locator("#overview textarea")
        box.focus()
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.id") == "predict"
        page.locator("#example-movies tbody tr").first.click()
        page.locator("#comparison-table th", has_text="True").wait_for(timeout=30_000)
        box.fill(overview)  # the visitor's own overview: no true genres any more
        box.press("Enter")
        page.wait_for_function("() => !document.querySelector('#comparison-table').innerText.includes('True')", timeout=30_000)
        assert box.input_value() == overview  # Enter predicted; it added no new line
        page.get_by_role("button", name="Clear").click()
        page.locator("#comparison-table table").wait_for(state="detached", timeout=10_000)
        box.focus()
        page.keyboard.type(overview)
        page.keyboard.press("Enter")
        page.locator("#genres-overview").get_by_text("Predicted:").wait_for(timeout=30_000)
        assert "Needs a poster" in page.locator("#panel-poster").inner_text()


def test_a_running_call_shows_its_progress(app_url, served, sample_movie, monkeypatch):
    """A call that takes the server a few seconds (here: the models made to wait 3 s) shows it running."""
    predict = served.predict

    def slow(*args, **kwargs):
        time.sleep(3)
        return predict(*args, **kwargs)

    monkeypatch.setattr(served, "predict", slow)
    with page_with_movie(app_url, sample_movie[0], sample_movie[1]) as page:
        page.get_by_role("button", name="Predict genres").click()
        page.locator("#comparison .progress-text, #comparison .eta-bar, #comparison .generating").first.wait_for(timeout=10_000)
        page.locator("#genres-fusion").get_by_text("Predicted:").wait_for(timeout=60_000)
