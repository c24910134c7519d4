"""The Space in a real browser: headless Debian Chromium driven by Playwright draws digits, a number and a letter with
mouse strokes on the sketchpad and reads the answer from the page, as a newcomer would. Screenshots go to
tests/artifacts/.

Runs in CI (.ci/run installs the `chromium` package); skipped only on a machine without /usr/bin/chromium outside CI.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from tests.app_process import running_app

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
ANSWER_TIMEOUT_MS = 30_000  # a busy 2-core CI machine: blob upload + queue + model
VIEWPORT = {"width": 1280, "height": 1100}  # the whole app; full_page screenshots resize the page, and the
# sketchpad's software-WebGL canvas then re-renders for tens of seconds, so screenshots are of the viewport
PHONE = {"width": 390, "height": 844}
DRAW_HINT = "✏️ Draw a digit or a number"
RELEASE_FOLDER = ROOT / "models" / "mnist-cnn"


@pytest.fixture(scope="module")
def served_model(request):
    """The committed release model when there is one (it reads drawings best, and declines letters once it has the
    "not_a_digit" class), else the session's quick model (trained only then)."""
    if (RELEASE_FOLDER / "classifier.json").is_file():
        return RELEASE_FOLDER
    return request.getfixturevalue("model_dir")


@pytest.fixture(scope="module")
def declines(served_model):
    labels = json.loads((served_model / "classifier.json").read_text())["labels"]
    if "not_a_digit" not in labels:
        pytest.skip(f"the served model ({served_model.name}) has no not_a_digit class")


@pytest.fixture(scope="module")
def app_url(served_model, tmp_path_factory):
    """`python space/app.py` as a user starts it. (In this process, behind Playwright's own event loop, the
    sketchpad round trips took tens of seconds; a separate server answers in about one.)"""
    with running_app(served_model, tmp_path_factory.mktemp("app")) as (url, _):
        yield url + "/"


@pytest.fixture(scope="module")
def page(app_url):
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(app_url)
        yield page
        browser.close()


def ring(x: float) -> list[tuple[float, float]]:
    """A "0" centred at `x` (a fraction of the 2:1 canvas' width): one closed loop."""
    return [(x + 0.06 * math.sin(t / 12 * 2 * math.pi), 0.5 - 0.26 * math.cos(t / 12 * 2 * math.pi))
            for t in range(14)]


def canvas_box(page):
    canvas = page.locator("#sketchpad canvas").first
    canvas.wait_for(state="visible", timeout=ANSWER_TIMEOUT_MS)
    return canvas.bounding_box()


def stroke(page, points):
    """One mouse stroke through points given as fractions of the sketchpad's drawing area."""
    box = canvas_box(page)
    xy = [(box["x"] + box["width"] * x, box["y"] + box["height"] * y) for x, y in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for (x0, y0), (x1, y1) in zip(xy, xy[1:]):
        page.mouse.move(x1, y1, steps=3)  # few events: under pytest each pointer move can cost ~0.2 s to render
    page.mouse.up()


def wait_for_answer(page, expected: str) -> str:
    """Wait until the Prediction label shows `expected`; return what it shows."""
    answer = page.locator("#prediction [data-testid='label-output-value']")
    try:
        page.wait_for_function(
            "(expected) => document.querySelector(\"#prediction [data-testid='label-output-value']\")"
            "?.textContent.trim() === expected", arg=expected, timeout=ANSWER_TIMEOUT_MS,
            polling=250)  # not the default requestAnimationFrame polling: it starves the canvas export
    except Exception:
        pass  # report what the page shows instead
    return answer.text_content().strip()


def wait_for_reading(page, expected: str) -> str:
    """Wait until the reading panel's text contains `expected`; return its text.

    The label alone is not enough: a half-drawn picture can already be declined by the model, and the label then
    shows "Not a digit" while the reply for the finished drawing is still on its way.
    """
    try:
        page.wait_for_function(
            "(expected) => document.querySelector('#reading')?.textContent.includes(expected)",
            arg=expected, timeout=ANSWER_TIMEOUT_MS, polling=250)
    except Exception:
        pass  # report what the page shows instead
    return page.locator("#reading").text_content()


def test_a_newcomer_can_draw_at_once(page):
    """No tool to pick first: the brush is active and the very first stroke gets an answer."""
    wait_for_answer(page, DRAW_HINT)
    page.wait_for_timeout(1500)  # let the editor settle, as a person would take a moment
    stroke(page, [(0.5, 0.22), (0.5, 0.78)])  # "1": one vertical stroke
    shown = wait_for_answer(page, "1")
    page.screenshot(path=ARTIFACTS / "browser_draw_1.png")
    assert shown == "1"
    assert "select the draw tool" not in page.content()


def test_clear_then_draw_another_digit(page):
    page.locator("#clear").click()
    assert wait_for_answer(page, DRAW_HINT) == DRAW_HINT
    stroke(page, ring(0.5))  # "0": one closed loop
    shown = wait_for_answer(page, "0")
    page.screenshot(path=ARTIFACTS / "browser_draw_0.png")
    assert shown == "0"
    seen = page.locator("#seen img")
    assert seen.count() == 1 and seen.first.is_visible()  # "what the model sees" is filled in


def test_the_editors_own_clear_keeps_the_brush(page):
    page.get_by_label("Clear canvas").click()  # the sketchpad's trash icon
    assert wait_for_answer(page, DRAW_HINT) == DRAW_HINT
    page.wait_for_timeout(1000)
    stroke(page, [(0.5, 0.22), (0.5, 0.78)])
    assert wait_for_answer(page, "1") == "1"


def test_clicking_an_example_shows_its_prediction(page):
    page.locator("button:has(img[src*='7_photo'])").first.click()
    shown = wait_for_answer(page, "7")
    upload_tab = page.get_by_role("tab", name="Upload")
    page.wait_for_function("() => [...document.querySelectorAll('button[role=tab]')].some("
                           "t => t.textContent.trim() === 'Upload' && t.getAttribute('aria-selected') === 'true')",
                           timeout=ANSWER_TIMEOUT_MS, polling=250)
    page.screenshot(path=ARTIFACTS / "browser_example_7.png")
    assert shown == "7"
    assert upload_tab.get_attribute("aria-selected") == "true"
    assert page.locator("#upload img").first.is_visible()  # the Upload tab shows the photo


def clear_the_draw_tab(page):
    page.get_by_role("tab", name="Draw").click()  # the example test left the Upload tab open
    page.locator("#clear").click()


def test_a_two_digit_number_is_read(page):
    """Issue 11: "10" drawn across the wide canvas reads as the number, each digit with its confidence, and the
    strip of what the model saw holds one crop per digit."""
    clear_the_draw_tab(page)
    assert wait_for_answer(page, DRAW_HINT) == DRAW_HINT
    page.wait_for_timeout(1000)
    stroke(page, [(0.3, 0.22), (0.3, 0.78)])  # "1"
    stroke(page, ring(0.62))  # "0"
    shown = wait_for_answer(page, "10")
    page.screenshot(path=ARTIFACTS / "browser_draw_10.png")
    assert shown == "10"
    digits = page.locator("#reading .digit")
    assert digits.count() == 2
    assert [digits.nth(i).locator("b").text_content() for i in range(2)] == ["1", "0"]
    assert all(digits.nth(i).locator("small").text_content().endswith("%") for i in range(2))
    seen = page.locator("#seen img").first
    assert seen.is_visible()
    width, height = page.evaluate("(img) => [img.naturalWidth, img.naturalHeight]", seen.element_handle())
    assert width > 2 * height  # two crops side by side


def test_a_drawn_letter_is_declined_in_plain_words(page, declines):
    clear_the_draw_tab(page)
    assert wait_for_answer(page, DRAW_HINT) == DRAW_HINT
    page.wait_for_timeout(1000)
    stroke(page, [(0.42, 0.85), (0.5, 0.15), (0.58, 0.85)])  # "A": the two slanted strokes
    stroke(page, [(0.45, 0.6), (0.55, 0.6)])  # its bar
    shown = wait_for_answer(page, "Not a digit")
    page.screenshot(path=ARTIFACTS / "browser_draw_letter.png")
    assert shown == "Not a digit"
    assert "doesn't look like a digit" in page.locator("#reading").text_content()


@pytest.mark.parametrize("scale, centre", [(1.0, (0.5, 0.5)), (0.6, (0.25, 0.4))], ids=["large", "small"])
def test_a_drawn_face_is_declined_and_the_page_says_why(page, declines, scale, centre):
    """A smiley: the network alone reads it as a confident 0; the reader declines it for the marks in its loop,
    also when it is drawn small in a corner of the canvas (its eyes then merge with its outline on the reader's
    coarse map, which takes a closer look)."""
    clear_the_draw_tab(page)
    assert wait_for_answer(page, DRAW_HINT) == DRAW_HINT
    page.wait_for_timeout(1000)

    def at(points):
        return [(centre[0] + scale * (x - 0.5), centre[1] + scale * (y - 0.5)) for x, y in points]

    stroke(page, at([(0.5 + 0.17 * math.sin(t / 16 * 2 * math.pi), 0.5 - 0.38 * math.cos(t / 16 * 2 * math.pi))
                     for t in range(18)]))  # the face
    stroke(page, at([(0.45, 0.3), (0.45, 0.42)]))  # the eyes
    stroke(page, at([(0.55, 0.3), (0.55, 0.42)]))
    stroke(page, at([(0.42, 0.6), (0.46, 0.68), (0.5, 0.7), (0.54, 0.68), (0.58, 0.6)]))  # the smile
    reading = wait_for_reading(page, "marks inside a closed loop")
    shown = wait_for_answer(page, "Not a digit")
    page.screenshot(path=ARTIFACTS / f"browser_draw_face_{'large' if scale == 1.0 else 'small'}.png")
    assert "marks inside a closed loop" in reading
    assert shown == "Not a digit"


def test_on_a_phone_the_wide_canvas_fits_and_draws_at_once(page, app_url):
    """A 390 px wide viewport: the editor fits inside the screen, and a first stroke in the middle is answered.

    On a phone Gradio shows the whole 2:1 page zoomed out (about 47%) in an editor taller than it, so the canvas
    element's box is the editor, not the page: the stroke stays within the page's middle third."""
    context = page.context.browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    try:
        phone = context.new_page()
        phone.goto(app_url)
        wait_for_answer(phone, DRAW_HINT)
        box = canvas_box(phone)
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        assert box["height"] >= 150  # room to draw with a finger
        phone.wait_for_timeout(1500)
        stroke(phone, [(0.5, 0.38), (0.5, 0.62)])
        shown = wait_for_answer(phone, "1")
        phone.screenshot(path=ARTIFACTS / "browser_phone_1.png")
        assert shown == "1"
    finally:
        context.close()
