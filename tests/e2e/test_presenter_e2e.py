"""One page shape on a projector and on a phone.

Lecture mode at 1280 × 720: the sidebar and the lead are folded, each page's main chart and main button lie
inside the first screen, no control is cut off, the tool bar never sits on a chart's title and tick labels are
at least 16 px. On a 390 × 844 phone: nothing runs off the side and the main action is within two screens.
The screenshots (presenter-*, phone-*) are kept in test-artifacts/ for people to look at.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import exception_texts, open_page, screenshot, tall_screenshot, wait_for_app

pytestmark = pytest.mark.e2e

MAIN = '[data-testid="stMain"]'
SIDEBAR = '[data-testid="stSidebar"]'
MAIN_CHART = f"{MAIN} .st-key-main-chart .js-plotly-plot"
PROJECTOR = {"width": 1280, "height": 720}
PHONE = {"width": 390, "height": 844}
PHONE_USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
)

# page: (path, the main button's label, or None where the page redraws as its inputs change)
PAGES = {
    "attention": ("attention", None),
    "generation": ("generation", "Generate"),
    "clip": ("clip", None),
    "fill-mask": ("fill-mask", None),
    "double-descent": ("double-descent", None),
    "fine-tuning": ("fine-tuning", "Train"),
}

# Controls whose text or box runs past their own edge or the window's: a cut-off label, an option out of sight.
CLIPPED_CONTROLS = """(firstScreenOnly) => {
  const found = [];
  const main = document.querySelector('[data-testid="stMain"]');
  const controls = main.querySelectorAll('label, button, [data-baseweb="select"], [data-testid="stWidgetLabel"]');
  for (const control of controls) {
    for (const element of [control, ...control.querySelectorAll('*')]) {
      const box = element.getBoundingClientRect();
      if (box.width === 0 || (firstScreenOnly && (box.bottom < 0 || box.top > window.innerHeight))) continue;
      // Text cut off inside its own box (an ellipsis, a hidden overflow), or a box past the window's edge.
      const text = (element.innerText || '').trim();
      const cut = text !== '' && element.scrollWidth > element.clientWidth + 1 && getComputedStyle(element).overflowX !== 'visible';
      if (cut || box.right > window.innerWidth + 1 || box.left < -1) {
        found.push(`${element.tagName}.${element.className} "${text.slice(0, 40)}" ${element.scrollWidth}/${element.clientWidth}`);
        break;
      }
    }
  }
  return found;
}"""


def box(locator) -> dict:
    return locator.evaluate(
        "node => { const b = node.getBoundingClientRect(); "
        "return {top: b.top, bottom: b.bottom, left: b.left, right: b.right}; }"
    )


def inside(outer: dict, inner: dict) -> bool:
    return (
        inner["top"] >= 0
        and inner["left"] >= 0
        and inner["bottom"] <= outer["height"]
        and inner["right"] <= outer["width"]
    )


def overlap(a: dict, b: dict) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def main_button(page, label: str):
    return page.locator(MAIN).get_by_role("button", name=label, exact=True).first


def show_main_chart(page, name: str) -> None:
    """The lab draws its curves once it has trained: press Train, then wait for them."""
    if name == "fine-tuning":
        main_button(page, "Train").click()
    page.locator(MAIN_CHART).first.wait_for(timeout=180_000)
    wait_for_app(page, 180)


@pytest.mark.parametrize("name", list(PAGES))
def test_presenter_mode_puts_the_demo_on_the_first_screen(page, app_server, name):
    path, button = PAGES[name]
    page.set_viewport_size(PROJECTOR)
    open_page(page, app_server, path, "lecture=1")
    assert exception_texts(page) == []
    assert page.locator(SIDEBAR).get_attribute("data-collapsed") == "true"
    about = page.locator(f'{MAIN} [data-testid="stPopover"]', has_text="About this demo")
    assert about.count() == 1
    assert inside(PROJECTOR, box(about))
    if button is not None:
        assert inside(PROJECTOR, box(main_button(page, button))), f"{button} is off the first screen"
    show_main_chart(page, name)
    page.evaluate("window.scrollTo(0, 0)")
    chart = page.locator(MAIN_CHART).first
    assert inside(PROJECTOR, box(chart)), f"the main chart is off the first screen: {box(chart)}"
    assert page.evaluate(CLIPPED_CONTROLS, True) == []
    title = chart.locator(".gtitle").first
    if title.count():
        assert not overlap(box(title), box(chart.locator(".modebar").first)), "the tool bar sits on the title"
    sizes = chart.locator(".xtick text, .ytick text").evaluate_all(
        "nodes => nodes.map(node => parseFloat(getComputedStyle(node).fontSize))"
    )
    assert sizes and min(sizes) >= 16, sizes
    screenshot(page, f"presenter-{name}", full_page=False)


@pytest.fixture
def phone(browser):
    """A browser that says it is a phone, at a phone's size."""
    context = browser.new_context(viewport=PHONE, user_agent=PHONE_USER_AGENT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.mark.parametrize("name", list(PAGES))
def test_a_phone_gets_the_demo_in_one_column(phone, app_server, name):
    page = phone
    path, button = PAGES[name]
    open_page(page, app_server, path)
    assert exception_texts(page) == []
    target = main_button(page, button) if button is not None else page.locator(MAIN_CHART).first
    target.wait_for(timeout=120_000)
    where = box(target)
    assert where["top"] < 2 * PHONE["height"], f"the main {'button' if button else 'chart'} is at {where['top']} px"
    assert where["right"] <= PHONE["width"]
    assert page.evaluate(CLIPPED_CONTROLS, False) == []
    if name == "attention":  # every token keeps its label: the heatmap's rows take the height, not the width
        tokens = page.locator(f"{MAIN} .ll-token").count()
        labels = page.locator(f"{MAIN_CHART} .ytick text").count()
        assert tokens > 10 and labels == tokens, (labels, tokens)
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    tall_screenshot(page, f"phone-{name}", width=PHONE["width"], height=min(int(height), 6000))
