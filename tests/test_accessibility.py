"""axe-core, run in Chromium on every page for a visitor, an athlete, a coach and someone who is both, on a
phone and a laptop: no serious or critical violation (colour contrast, names, labels, landmarks, headings).

axe-core is vendored in tests/vendor/axe-core (MPL-2.0) and injected by the test; the product's
Content-Security-Policy allows only its own scripts, so these contexts bypass it to let axe in.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.billing_helpers import billing_on  # noqa: F401 - fixture used by `cast`
from tests.conftest import ServerThread
from tests.test_browser_layout import (  # noqa: F401 - fixtures
    LAPTOP,
    PHONE,
    SCREENS,
    Person,
    browser,
    cast,
    goto,
    open_as,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
SITE_CSS = Path(__file__).resolve().parent.parent / "static" / "css" / "site.css"
BLOCKING = {"serious", "critical"}

RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ") + " :: " + n.failureSummary),
  }));
}"""


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted([luminance(foreground), luminance(background)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_it_keeps_every_text_colour_of_the_palette_at_4_5_to_1_or_more() -> None:
    """The palette itself, so a colour on a page no walk reaches is held to the same bar."""
    palette = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", SITE_CSS.read_text()))
    white = "#ffffff"
    for text in ["ink", "muted", "accent", "accent-dark", "ok", "warn", "bad"]:
        for background in [white, palette["bg"], "#fff3bf", "#fff5f5", "#fff9db", "#e7f5ff", "#ebfbee"]:
            assert contrast(palette[text], background) >= 4.5, (text, background)
    assert contrast(palette["accent-ink"], palette["accent"]) >= 4.5  # button labels
    assert contrast(palette["accent-ink"], palette["accent-dark"]) >= 4.5  # hovered buttons
    assert contrast(palette["focus"], white) >= 3 and contrast(palette["focus"], palette["bg"]) >= 3  # non-text
    assert round(contrast(palette["accent"], white), 2) == 5.62  # the figure site.css states


def axe_violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    return list(page.evaluate(RUN_AXE))


def check_page(page: Any, where: str, found: list[str]) -> None:
    for violation in axe_violations(page):
        if violation["impact"] in BLOCKING:
            found.append(f"{where}: {violation['id']} ({violation['impact']}) {violation['help']} {violation['nodes']}")


@pytest.mark.parametrize("role", ["visitor", "athlete", "coach", "both"])
@pytest.mark.parametrize("width", [PHONE, LAPTOP])
def test_it_passes_axe_on_every_page(
    product: ServerThread,
    cast: dict[str, Person],  # noqa: F811
    role: str,
    width: int,
    browser: Any,  # noqa: F811
) -> None:
    person = cast[role]
    page = open_as(browser, product, person, width, bypass_csp=True)
    found: list[str] = []
    for path in person.pages:
        goto(page, product.url + path)
        check_page(page, f"{role} at {width}px on {path}", found)
        if width == PHONE:
            page.locator("[data-menu] > summary").click()  # the open menu too
            check_page(page, f"{role} at {width}px on {path} (menu open)", found)
    page.context.close()
    assert not found, "\n".join(found)


def test_it_passes_axe_on_the_checkout_stand_in_and_with_a_message_shown(
    product: ServerThread,
    cast: dict[str, Person],  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    page = open_as(browser, product, cast["athlete"], PHONE, bypass_csp=True)
    found: list[str] = []
    goto(page, product.url + "/dashboard/access-log/")
    page.get_by_role("button", name="Undo").click()  # a success or error message at the top
    page.wait_for_selector(".messages")
    check_page(page, "access log after undo", found)
    goto(page, product.url + "/dashboard/billing/")
    page.get_by_role("button", name=re.compile("^Subscribe")).first.click()
    page.wait_for_url(re.compile(r"/billing/fake-stripe/checkout/"))
    check_page(page, "checkout stand-in", found)
    page.context.close()
    assert not found, "\n".join(found)


def test_it_lets_a_keyboard_skip_to_the_content(
    product: ServerThread,
    cast: dict[str, Person],  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    page = open_as(browser, product, cast["athlete"], LAPTOP)
    goto(page, product.url + "/dashboard/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    assert skip.evaluate("a => a === document.activeElement")
    assert skip.is_visible()
    page.screenshot(path=str(SCREENS / "athlete-1280-skip-link.png"))
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    # The next stop is inside the page's content, not the menu.
    assert page.evaluate("() => document.getElementById('main').contains(document.activeElement)")
    # Focus is visible: a 3 px outline on the focused control.
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.context.close()
