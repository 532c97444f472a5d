"""Every page on a phone (390 px) and a laptop (1280 px), for a visitor, an athlete, a coach and someone who is
both: nothing scrolls sideways, the menu offers what means something to that person and each item is on
screen, the access log's Undo is reachable. Screenshots land in test-artifacts/screens/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.billing_helpers import billing_on  # noqa: F401 - fixture: the billing page shows its plans
from tests.conftest import AROHA, DIEGO, MARA, PASSWORD, Sandbox, ServerThread, make_athlete

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screens"
CHROMIUM = "/usr/bin/chromium"
PHONE, LAPTOP = 390, 1280
LONG_COACH = "a.very.long.coach.address.for.layout.checks@endurance-coaching-collective.example.com"

ATHLETE_NAV = ["Dashboard", "Coaches", "Access log", "Connect your assistant"]
COACH_NAV = ["Coach home"]
ACCOUNT_NAV = ["Subscription", "Log out"]
VISITOR_NAV = ["Connect your assistant", "Log in", "Sign up"]

VISITOR_PAGES = [
    "/",
    "/connect/",
    "/token/",
    "/token/confirm/not-a-real-link/",
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password/reset/",
    "/accounts/confirm-email/",
    "/privacy/",
    "/terms/",
    "/no-such-page/",
]
ACCOUNT_PAGES = ["/dashboard/billing/", "/accounts/email/", "/accounts/password/change/", "/accounts/logout/"]
ATHLETE_PAGES = ["/", "/dashboard/", "/dashboard/coaches/", "/dashboard/access-log/", "/connect/", *ACCOUNT_PAGES]
COACH_PAGES = ["/", "/coach/", *ACCOUNT_PAGES, "/privacy/", "/no-such-page/"]


@dataclass(frozen=True)
class Person:
    role: str  # "visitor", "athlete", "coach", "both"
    email: str | None
    pages: list[str]
    nav: list[str]
    not_nav: list[str]


def people() -> dict[str, Person]:
    return {
        "visitor": Person("visitor", None, VISITOR_PAGES, VISITOR_NAV, ["Dashboard", "Coach home", "Log out"]),
        "athlete": Person("athlete", "mara@example.com", ATHLETE_PAGES, ATHLETE_NAV + ACCOUNT_NAV, COACH_NAV),
        "coach": Person("coach", "sam@example.com", COACH_PAGES, COACH_NAV + ACCOUNT_NAV, ATHLETE_NAV),
        "both": Person(
            "both", "aroha@example.com", [*ATHLETE_PAGES, "/coach/"], ATHLETE_NAV + COACH_NAV + ACCOUNT_NAV, []
        ),
    }


@pytest.fixture
def cast(product: ServerThread, sandbox: Sandbox, billing_on: None) -> dict[str, Person]:  # noqa: F811
    """Mara trains and invited Sam and a coach with a very long address; Diego invited Sam and Aroha; Aroha
    trains too; Sam only coaches. Mara's access log has a coach's undoable write, a refused call and a
    preview. ORM set-up comes before the page fixture (Playwright's sync API then owns the event loop)."""
    from coaching.actions import WriteRecord, grantable_tools, invite_coach, record_tool_call

    mara = make_athlete("mara@example.com", athlete_id=MARA, sandbox=sandbox)
    diego = make_athlete("diego@example.com", athlete_id=DIEGO, sandbox=sandbox)
    make_athlete("aroha@example.com", athlete_id=AROHA, sandbox=sandbox)
    make_athlete("sam@example.com", athlete_id=None)
    tools = grantable_tools()
    everything = tools["read"] + tools["write"]
    invite_coach(mara, "sam@example.com", everything, hidden=["hrv", "weight", "menstrual"])
    invite_coach(mara, LONG_COACH, tools["read"])
    invite_coach(diego, "sam@example.com", tools["read"])
    invite_coach(diego, "aroha@example.com", tools["read"])
    summary = (
        "Created workout 'Sweet spot 3 x 15 min @ 88-93 % FTP with 5 min recoveries' on Tuesday 2026-12-08 "
        "(event 123456789012), 1 h 25 min, load 98"
    )
    for tool, outcome, is_write, write, text in [
        ("get_training_history", "ok", False, None, "90 days, 74 activities"),
        ("push_workout", "ok", True, WriteRecord("event.create", "123456789012", None, {"id": 1}), summary),
        ("push_workout", "preview", True, None, "Dry run: " + summary),
        ("delete_workout", "error", True, None, "Refused: the event is in the past"),
    ]:
        record_tool_call(
            token_id=None,
            actor_label=f"Sam the coach ({LONG_COACH})",
            tool=tool,
            athlete_id=MARA,
            athlete_user_id=mara.pk,
            outcome=outcome,
            summary=text,
            is_write=is_write,
            write=write,
        )
    return people()


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium; each walk opens its own context (viewport, cookies). Request it last."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for browser tests (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    SCREENS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def open_as(browser: Any, product: ServerThread, person: Person, width: int, **context_options: Any) -> Any:
    """A page at `width` px, logged in as `person` through the login form (a visitor stays anonymous)."""
    context = browser.new_context(viewport={"width": width, "height": 844}, **context_options)
    page = context.new_page()
    if person.email:
        page.goto(product.url + "/accounts/login/")
        page.fill("input[name=login]", person.email)
        page.fill("input[name=password]", PASSWORD)
        page.get_by_role("button", name=re.compile("sign in", re.I)).click()
        page.wait_for_url(re.compile(r"/dashboard/"))
    return page


def goto(page: Any, url: str) -> None:
    response = page.goto(url)
    expected = 404 if "no-such-page" in url else 200
    assert response.status == expected, (url, response.status)


def assert_no_sideways_scroll(page: Any, where: str) -> None:
    sizes = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth,"
        " widest: [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right >"
        " window.innerWidth + 1).slice(0, 3).map(e => e.tagName + '.' + e.className)})"
    )
    assert sizes["scroll"] <= sizes["inner"], (where, sizes)


def on_screen(page: Any, locator: Any) -> bool:
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    return bool(box) and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5


def nav_item(page: Any, name: str) -> Any:
    nav = page.get_by_role("navigation", name="Main")
    return nav.get_by_role("link", name=name, exact=True).or_(nav.get_by_role("button", name=name, exact=True))


def assert_nav(page: Any, person: Person, where: str) -> None:
    """Every item the person should have is visible and on screen (behind the menu button on a phone);
    items meant for someone else are absent."""
    menu_button = page.locator("[data-menu] > summary")
    if page.viewport_size["width"] == PHONE:
        assert menu_button.is_visible(), where
        assert not page.evaluate("() => document.querySelector('[data-menu]').open"), where
        for name in person.nav:
            assert not nav_item(page, name).is_visible(), (where, name, "shown before the menu is opened")
        menu_button.click()
    else:
        assert not menu_button.is_visible(), where
    for name in person.nav:
        item = nav_item(page, name)
        assert item.count() == 1, (where, name)
        assert item.is_visible() and on_screen(page, item), (where, name)
    for name in person.not_nav:
        assert nav_item(page, name).count() == 0, (where, name, "is for someone else")
    if page.viewport_size["width"] == PHONE:
        page.keyboard.press("Escape")
        assert not nav_item(page, person.nav[0]).is_visible(), (where, "Escape closes the menu")


def shot(page: Any, person: Person, path: str) -> None:
    name = path.strip("/").replace("/", "_") or "home"
    page.screenshot(path=str(SCREENS / f"{person.role}-{page.viewport_size['width']}-{name}.png"), full_page=True)


@pytest.mark.parametrize("role", ["visitor", "athlete", "coach", "both"])
@pytest.mark.parametrize("width", [PHONE, LAPTOP])
def test_it_fits_every_page_on_the_screen_with_the_menu_of_who_you_are(
    product: ServerThread, cast: dict[str, Person], role: str, width: int, browser: Any
) -> None:
    person = cast[role]
    page = open_as(browser, product, person, width)
    for path in person.pages:
        where = f"{role} at {width}px on {path}"
        goto(page, product.url + path)
        assert_no_sideways_scroll(page, where)
        shot(page, person, path)
        assert_nav(page, person, where)
        assert_no_sideways_scroll(page, where + " with the menu open")
    page.context.close()


def test_it_keeps_the_undo_button_of_the_access_log_on_a_phone_screen(
    product: ServerThread, cast: dict[str, Person], browser: Any
) -> None:
    page = open_as(browser, product, cast["athlete"], PHONE)
    goto(page, product.url + "/dashboard/access-log/")
    undo = page.get_by_role("button", name="Undo")
    assert undo.count() == 1
    undo.scroll_into_view_if_needed()
    assert undo.is_visible() and on_screen(page, undo)
    # Each row is a card whose cells say which column they came from.
    row = page.locator("table.log tbody tr").filter(has=undo)
    assert row.locator("td[data-label='Tool']").inner_text().startswith("push_workout")
    assert row.locator("td").first.evaluate("td => getComputedStyle(td, '::before').content").startswith('"When')
    undo.click()
    page.wait_for_url(re.compile(r"/dashboard/access-log/"))
    assert page.locator(".messages").is_visible()
    page.context.close()


def test_it_keeps_the_menu_usable_without_javascript(
    product: ServerThread, cast: dict[str, Person], browser: Any
) -> None:
    """The menu is a <details> element, open in the HTML: without scripts a phone shows its links in full."""
    page = open_as(browser, product, cast["both"], PHONE, java_script_enabled=False)
    goto(page, product.url + "/dashboard/")
    for name in cast["both"].nav:
        assert nav_item(page, name).is_visible() and on_screen(page, nav_item(page, name)), name
    assert_no_sideways_scroll(page, "no JavaScript")
    page.screenshot(path=str(SCREENS / "both-390-no-javascript.png"), full_page=True)
    page.context.close()


def test_it_follows_the_window_when_it_narrows_and_widens(
    product: ServerThread, cast: dict[str, Person], browser: Any
) -> None:
    page = open_as(browser, product, cast["athlete"], LAPTOP)
    goto(page, product.url + "/dashboard/")
    assert nav_item(page, "Coaches").is_visible()
    page.set_viewport_size({"width": PHONE, "height": 844})
    page.wait_for_function("() => !document.querySelector('[data-menu]').open")
    assert not nav_item(page, "Coaches").is_visible()
    page.set_viewport_size({"width": LAPTOP, "height": 844})
    page.wait_for_function("() => document.querySelector('[data-menu]').open")
    assert nav_item(page, "Coaches").is_visible()
    page.context.close()


def test_it_shows_the_checkout_stand_in_on_a_phone_without_sideways_scroll(
    product: ServerThread, cast: dict[str, Person], browser: Any
) -> None:
    page = open_as(browser, product, cast["athlete"], PHONE)
    goto(page, product.url + "/dashboard/billing/")
    page.get_by_role("button", name=re.compile("^Subscribe")).first.click()
    page.wait_for_url(re.compile(r"/billing/fake-stripe/checkout/"))
    assert_no_sideways_scroll(page, "checkout")
    page.screenshot(path=str(SCREENS / "athlete-390-checkout.png"), full_page=True)
    page.context.close()
