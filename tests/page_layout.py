"""Layout facts read from the DOM of the page in a real browser, and screenshots of what was checked.

`layout_problems` lists, in words, what a visitor would see as broken: the page wider than the
window, a word broken across lines, text wider than its table cell, an element cut off by its
container at a side (tables meant to scroll sideways, `.wide`, aside) or at the top or bottom, a
chart's text cut off by the chart or drawn over other text, or one element drawn over another.
"""

from __future__ import annotations

import os
from pathlib import Path

LAYOUT_JS = (Path(__file__).with_name("page_layout.js")).read_text(encoding="utf-8")


def screenshots_folder(fallback: Path) -> Path:
    """$GENRE_HF_SCREENSHOTS when set (to keep and look at them), else `fallback`."""
    folder = Path(os.environ.get("GENRE_HF_SCREENSHOTS") or fallback)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def layout_problems(page) -> list[str]:
    return page.evaluate(LAYOUT_JS)


def look(page, folder: Path, name: str) -> Path:
    """A full-page screenshot of this state into `folder`, then the layout facts asserted."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    problems = layout_problems(page)
    if problems:  # a transition may still be running on a busy machine: measure the settled page
        page.wait_for_timeout(1_500)
        problems = layout_problems(page)
    assert problems == [], f"{name} ({path}): {problems}"
    return path
