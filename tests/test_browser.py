"""The verification page in a real browser: Playwright driving Debian's Chromium against a
live server (uvicorn in a thread, on a free loopback port).

Scenarios of issue 11: a signed photo is Verified with its chain; an edited child and its
original are Verified, replayed, with a difference map of zero differing pixels; a
re-encoded copy is Similar; a stranger is Unknown; a tampered ledger is Tampered; an exact
match never uploads the photo (asserted on the requests the page makes); a signer name
holding HTML renders as text; a 30 MB photo is refused with a message. Each saves a
screenshot in the test's folder (and in PROVENANCE_SCREENSHOTS=DIR when set).

Skipped, with the reason, where Playwright or /usr/bin/chromium is missing.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCRIPT_NAME,
    PageLedger,
    build_ledger,
    chromium_or_skip,
    copy_ledger,
    live_server,
    screenshot,
    tamper_signature,
)

chromium_or_skip()

VERDICT_TIMEOUT_MS = 30_000


@dataclass
class Tab:
    """A page of the browser with what it asked the server and what went wrong in it."""

    page: Any
    base: str
    shots: Path
    requests: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def open(self) -> None:
        self.page.goto(self.base + "/")
        self.page.wait_for_selector("body[data-ready='1']")

    def choose(self, path: Path) -> None:
        self.page.get_by_label("Choose a photo").set_input_files(str(path))

    def drop(self, path: Path, zone: str = "#drop") -> None:
        payload = base64.b64encode(path.read_bytes()).decode()
        transfer = self.page.evaluate_handle(
            """([data, name]) => {
                const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
                const dt = new DataTransfer();
                dt.items.add(new File([bytes], name, {type: "image/jpeg"}));
                return dt;
            }""",
            [payload, path.name],
        )
        self.page.dispatch_event(zone, "drop", {"dataTransfer": transfer})

    def verdict(self) -> str:
        node = self.page.wait_for_selector("#verdict", timeout=VERDICT_TIMEOUT_MS)
        return str(node.get_attribute("data-verdict"))

    def posts(self) -> list[str]:
        return [url for method, url in self.requests if method == "POST"]

    def shot(self, name: str) -> Path:
        return screenshot(self.page, self.shots, name)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> PageLedger:
    return build_ledger(tmp_path_factory.mktemp("page-ledger"), corpus, big=True)


@pytest.fixture(scope="module")
def server(built: PageLedger) -> Iterator[str]:
    with live_server(built.db) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _tab(browser: Any, base: str, shots: Path) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    tab = Tab(page, base, shots)
    page.on("request", lambda r: tab.requests.append((r.method, r.url)))
    page.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: tab.errors.append(str(e)))

    def dialog(d: Any) -> None:
        tab.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def tab(browser: Any, server: str, tmp_path: Path) -> Iterator[Tab]:
    yield from _tab(browser, server, tmp_path / "screenshots")


def test_a_signed_photo_is_verified_with_its_chain(tab: Tab, built: PageLedger) -> None:
    tab.open()
    tab.page.keyboard.press("Tab")  # the photo chooser is the first thing a keyboard reaches
    assert tab.page.evaluate("document.activeElement.id") == "file"
    tab.choose(built.photos["rocket"])
    assert tab.verdict() == "verified"
    page = tab.page
    assert page.inner_text(".verdict-title") == "Verified"
    assert page.inner_text(".verdict-headline") == "a signed capture, no edits since"
    steps = page.locator(".timeline .step")
    assert steps.count() == 1
    step = steps.first.inner_text()
    assert "Captured" in step
    assert "Alice Example" in step
    assert "SHA256:" in step  # the key id beside the name
    assert "claimed by the signer" in step
    assert "author: Alice Example" in step
    proof = page.locator(".proof-link").first.get_attribute("href")
    assert proof is not None and proof.startswith("/v1/proof/inclusion?record=sha256%3A")
    assert page.request.get(tab.base + proof).ok
    bundle = page.locator("#bundle").get_attribute("href")
    assert bundle is not None and bundle.startswith("/v1/evidence/sha256:")
    assert "no witness has cosigned" in page.inner_text("#witnesses")
    # checks 1-8 with their reason codes, behind a disclosure
    page.click("details.checks summary")
    assert page.locator(".check").count() == 8
    assert "softBinding.notComputed" in page.inner_text("[data-check='7']")
    assert "not uploaded" in page.inner_text("[data-check='7']")
    assert not tab.errors, tab.errors  # a CSP violation would show here
    tab.shot("verified")


def test_an_exact_match_never_uploads_the_photo(tab: Tab, built: PageLedger) -> None:
    """Dropped on the zone this time (a DataTransfer carrying the file)."""
    tab.open()
    tab.drop(built.photos["hopper"])
    assert tab.verdict() == "verified"
    assert tab.posts() == []
    asked = [url for method, url in tab.requests if "/v1/" in url]
    assert len(asked) == 1 and "/v1/verify?sha256=" in asked[0], asked
    assert "your photo was not uploaded" in tab.page.inner_text(".verdict-how")


def test_the_plain_javascript_hash_serves_pages_without_webcrypto(
    browser: Any, server: str, built: PageLedger, tmp_path: Path
) -> None:
    """Over plain HTTP to another host there is no WebCrypto: the fallback must agree."""
    for tab in _tab(browser, server, tmp_path):
        tab.page.add_init_script(
            "Object.defineProperty(Crypto.prototype, 'subtle', {get() { return undefined; }});"
        )
        tab.open()
        assert tab.page.evaluate("window.crypto.subtle === undefined")
        tab.choose(built.photos["big"])
        assert tab.verdict() == "verified"
        assert tab.posts() == []


def test_an_edited_child_and_its_original_replay_to_zero_differing_pixels(
    tab: Tab, built: PageLedger
) -> None:
    tab.open()
    tab.choose(built.photos["crop"])
    assert tab.verdict() == "verified"
    page = tab.page
    assert page.inner_text(".verdict-headline") == (
        "verified, but 1 edit(s) declared by their signers, not replayed"
    )
    assert page.is_visible("#compare")
    tab.shot("edited-declared")
    page.get_by_label("Choose the original").set_input_files(str(built.photos["rocket"]))
    count = page.wait_for_selector("#diff-count", timeout=VERDICT_TIMEOUT_MS)
    assert count.get_attribute("data-differing") == "0"
    assert "0 of 39,600 pixels differ" in count.inner_text()
    assert page.inner_text(".verdict-headline") == (
        "every step checked: 1 edit(s) replayed from their parent images"
    )
    edit_step = page.locator(".step[data-check='replayed']")
    assert edit_step.count() == 1
    text = edit_step.inner_text()
    assert "cropped to the box left 100, top 40, right 540, bottom 400" in text
    assert "resized to 220 × 180 px" in text
    assert "News desk" in text
    images = page.locator(".figures img")
    assert images.count() == 3
    for i in range(3):
        assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
    assert not tab.errors, tab.errors
    tab.shot("edited-replayed")


def test_an_edit_record_that_lies_shows_where_on_the_map(tab: Tab, built: PageLedger) -> None:
    tab.open()
    tab.choose(built.photos["forged"])
    assert tab.verdict() == "verified"  # declared: the records alone cannot tell
    tab.page.get_by_label("Choose the original").set_input_files(str(built.photos["rocket"]))
    count = tab.page.wait_for_selector("#diff-count", timeout=VERDICT_TIMEOUT_MS)
    assert count.get_attribute("data-differing") == str(22 * 30)
    assert "660 of 39,600 pixels differ" in count.inner_text()
    assert tab.verdict() == "tampered"
    assert "replay.mismatch" in tab.page.inner_text(".failures")
    assert "Tampered" in tab.page.inner_text("#status")  # the announcement follows the diff
    assert not tab.errors, tab.errors
    tab.shot("edited-differs")


def test_a_re_encoded_copy_is_similar(tab: Tab, built: PageLedger) -> None:
    tab.open()
    tab.choose(built.photos["hopper-q70"])
    assert tab.verdict() == "similar"
    text = tab.page.inner_text("#verdict")
    assert "Similar" in text
    assert "re-encoded or resized after it was logged" in text
    assert "of 64 bits" in text
    assert [u.split("?")[0].removeprefix(tab.base) for u in tab.posts()] == ["/v1/verify"]
    assert "uploaded for this check and not stored" in tab.page.inner_text(".verdict-how")
    tab.shot("similar")


def test_a_stranger_is_unknown(tab: Tab, built: PageLedger) -> None:
    tab.open()
    tab.choose(built.photos["stranger"])
    assert tab.verdict() == "unknown"
    text = tab.page.inner_text("#verdict")
    assert "Unknown" in text
    assert "Unknown does not mean fake" in text
    tab.shot("unknown")


def test_a_tampered_ledger_is_tampered(browser: Any, built: PageLedger, tmp_path: Path) -> None:
    copy = copy_ledger(built, tmp_path / "tampered")
    tamper_signature(copy.db, 3)  # the rocket capture's signature
    with live_server(copy.db) as base:
        for tab in _tab(browser, base, tmp_path / "screenshots"):
            tab.open()
            tab.choose(copy.photos["rocket"])
            assert tab.verdict() == "tampered"
            page = tab.page
            assert page.inner_text(".verdict-title") == "Tampered"
            failures = page.inner_text(".failures")
            assert "claimSignature.mismatch" in failures
            assert page.locator("details.checks").count() == 1
            assert page.locator("#bundle").count() == 0  # no bundle for a damaged chain
            assert page.locator(".step-bad").count() >= 1
            tab.shot("tampered")


def test_a_signer_name_holding_html_renders_as_text(tab: Tab, built: PageLedger) -> None:
    tab.open()
    tab.choose(built.photos["apple"])
    assert tab.verdict() == "verified"
    page = tab.page
    assert page.inner_text(".timeline .signer-name") == SCRIPT_NAME
    page.click("details.about summary")
    assert SCRIPT_NAME in page.inner_text(".signers")
    # nothing the name holds became an element or ran
    assert page.locator("main img[src='x']").count() == 0
    assert page.evaluate("document.querySelectorAll('script').length") == 1
    assert tab.dialogs == []
    tab.shot("html-in-key-name")


def test_a_30_mb_photo_is_refused_with_a_message(tab: Tab, tmp_path: Path) -> None:
    big = tmp_path / "huge.jpg"
    big.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(30 * 1024 * 1024))
    tab.open()
    tab.choose(big)
    error = tab.page.wait_for_selector("#error:not([hidden])", timeout=VERDICT_TIMEOUT_MS)
    text = error.inner_text()
    assert "30.0 MB" in text and "up to 25 MB" in text
    assert "Nothing was uploaded" in text
    assert tab.posts() == []
    tab.shot("too-large")


def test_time_from_drop_to_verdict_for_a_12_mp_photo(tab: Tab, built: PageLedger) -> None:
    """Measured, not asserted tightly: the numbers go into the issue's note."""
    timings: dict[str, float] = {}
    for name, expected in (("big", "verified"), ("big-q80", "similar")):
        tab.open()
        started = time.perf_counter()
        tab.choose(built.photos[name])
        assert tab.verdict() == expected
        timings[f"{name} (wall, s)"] = round(time.perf_counter() - started, 3)
        timings[f"{name} (page, ms)"] = float(tab.page.evaluate("document.body.dataset.checkedMs"))
        timings[f"{name} bytes"] = built.photos[name].stat().st_size
    tab.shots.mkdir(parents=True, exist_ok=True)
    (tab.shots / "timings.json").write_text(json.dumps(timings, indent=2))
    print("12 MP drop-to-verdict:", timings)
    assert timings["big (page, ms)"] < 10_000
