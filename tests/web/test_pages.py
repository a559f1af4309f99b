"""The pages in real Chromium: the demo, the preference center and the dashboard.

Each test acts as a person would (clicks, forms, keyboard), checks what the page then
shows, runs axe-core on it (zero serious or critical violations), checks it references
nothing outside this server, and saves screenshots at 1280 px and 390 px.
"""

from __future__ import annotations

import re
from typing import Any

from tests.web.conftest import AXE, SHOTS, Servers

WIDTHS = {"wide": 1280, "phone": 390}
EXTERNAL = re.compile(r"""(?:src|href|action|url\()\s*=?\s*["']?\s*(?:https?:)?//""", re.I)


def open_page(browser: Any, width: int = 1280) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)  # to inject axe
    context.set_default_timeout(15_000)
    return context.new_page()


def check_page(page: Any, name: str) -> None:
    """axe (serious/critical = 0), no external reference, no sideways scroll, screenshots at both widths."""
    html = page.content()
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    page.add_script_tag(content=AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], bad
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, f"{name} scrolls sideways at {width} px by {overflow} px"
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def feed_ids(page: Any) -> list[str]:
    return [c.get_attribute("data-item") for c in page.locator("#feed > li.card").all()]


def click(page: Any, target: Any) -> str:
    """Click, then wait for the new "what changed" message (htmx swaps the page in) and return it."""
    page.evaluate("() => { const f = document.getElementById('flash'); if (f) f.dataset.old = '1'; }")
    target.click()
    page.wait_for_selector("#flash:not([data-old])")
    return page.locator("#flash").inner_text()


def test_like_and_dislike_change_the_feed_and_say_why(servers: Servers, browser: Any) -> None:
    page = open_page(browser)
    page.goto(f"{servers.demo}/?who=demo-visitor")
    assert page.locator("#engagement").get_attribute("data-level") == "new"
    check_page(page, "radio-new-visitor")
    first = feed_ids(page)
    assert len(first) >= 6
    assert ":" not in page.locator("#feed .chips").first.inner_text()  # readable tag names, no genre:x
    # not for me: the album leaves the feed and the message says so, from the engine's diff
    target = first[0]
    text = click(page, page.locator(f'li[data-item="{target}"] button.act-dislike'))
    assert "will not be shown again" in text and "left your feed" in text
    assert target not in feed_ids(page)
    assert page.locator(f'#disliked li[data-item="{target}"]').count() == 1
    # like: the item shows as liked (or leaves), and the message names what grew
    liked = feed_ids(page)[0]
    text = click(page, page.locator(f'li[data-item="{liked}"] button.act-like'))
    assert text.startswith("You liked") and "More " in text
    card = page.locator(f'#feed li[data-item="{liked}"]')
    if card.count():
        assert card.locator("button.act-like").get_attribute("aria-pressed") == "true"
    assert page.locator("#interests li[data-tag]").count() >= 1
    check_page(page, "radio-after-clicks")


def test_undo_a_dislike_brings_the_album_back(servers: Servers, browser: Any) -> None:
    page = open_page(browser)
    page.goto(f"{servers.demo}/store?who=demo-undo")
    target = feed_ids(page)[0]
    click(page, page.locator(f'li[data-item="{target}"] button.act-dislike'))
    assert target not in feed_ids(page)
    text = click(page, page.locator(f'#disliked li[data-item="{target}"] button.undo'))
    assert text.startswith("Undone") and "New in your feed" in text
    assert target in feed_ids(page)
    assert page.locator(f'#disliked li[data-item="{target}"]').count() == 0
    check_page(page, "store-after-undo")


def test_why_this_mute_a_topic_and_it_vanishes(servers: Servers, browser: Any) -> None:
    page = open_page(browser)
    page.goto(f"{servers.demo}/?who=demo-listener")
    codes = {li.get_attribute("data-code") for li in page.locator("details.why li[data-code]").all()}
    assert codes - {"popular", "trending"}, codes
    card = page.locator("#feed > li.card").first
    card.locator("summary").click()
    button = card.locator("button.mute").first
    tag = button.get_attribute("data-tag")
    check_page(page, "radio-why-this")
    text = click(page, button)
    assert text.startswith("Muted")
    items = page.locator("#feed > li.card").all()
    assert items, "the feed is empty after a mute"
    for item in items:  # nothing carrying the muted tag is left
        assert tag not in (item.locator("button.mute").evaluate_all("bs => bs.map(b => b.dataset.tag)"))
    assert page.locator("#muted").inner_text().strip() != ""


def test_the_switcher_describes_each_person(servers: Servers, browser: Any) -> None:
    page = open_page(browser, 390)
    page.goto(f"{servers.demo}/")
    links = page.locator(".who a").all()
    assert len(links) == 4
    assert "muted" in page.locator(".who").inner_text()
    page.locator(".who a", has_text="muted a topic").click()
    page.wait_for_url(re.compile("who=demo-muted"))
    assert "Metal" in page.locator("#muted").inner_text()
    check_page(page, "radio-muted-person")
    page.goto(f"{servers.demo}/?who=demo-opted-out")
    assert "faith" not in page.locator("#feed").inner_text().lower()
    # keyboard: tab reaches the skip link first, then the controls
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"


def test_preference_center_token_link_consent_and_interests(servers: Servers, browser: Any) -> None:
    page = open_page(browser)
    page.goto(f"{servers.serve}/me")
    assert "personal link" in page.content()
    check_page(page, "me-signed-out")
    page.goto(f"{servers.serve}/me?token={servers.token('demo-listener')}")
    page.wait_for_url(re.compile(r"/me$"))  # the token left the address bar; the cookie holds the session
    assert "token" not in page.url
    check_page(page, "me")
    # turn on a sensitive category: stored, and shown as checked after the reload
    box = page.locator('input[name="sensitive"][value="religion"]')
    assert not box.is_checked()
    box.check()
    assert "opted in to Faith and religion" in click(page, page.locator("#consent-form button"))
    assert page.locator('input[name="sensitive"][value="religion"]').is_checked()
    # remove an interest: gone from "what we know", shown under Removed
    first = page.locator("#known .interest").first
    tag = first.get_attribute("data-tag")
    assert "day" in first.inner_text()  # its evidence in words
    assert click(page, first.locator('button[value="remove"]')).startswith("Removed")
    assert page.locator(f'#known .interest[data-tag="{tag}"]').count() == 0
    assert page.locator("#removed").count() == 1


def test_preference_center_export_and_delete(servers: Servers, browser: Any) -> None:
    page = open_page(browser, 390)
    page.goto(f"{servers.serve}/me?token={servers.token('listener-0003')}")
    page.wait_for_url(re.compile(r"/me$"))
    with page.expect_download() as download:
        page.locator('a[href="/me/export"]').click()
    assert download.value.suggested_filename == "my-tactful-data.json"
    page.locator("#delete-form button").click()  # the box is required: nothing happens
    assert page.locator("#deleted").count() == 0
    page.locator('#delete-form input[name="confirm"]').check()
    page.locator("#delete-form button").click()
    page.locator("#deleted").wait_for()
    check_page(page, "me-deleted")
    page.goto(f"{servers.serve}/me")
    assert "personal link" in page.content()


def test_dashboard_sign_in_charts_catalog_person_policy(servers: Servers, browser: Any) -> None:
    page = open_page(browser)
    page.goto(f"{servers.serve}/admin")
    check_page(page, "admin-signin")
    page.fill("#key", "tk_wrong_key")
    page.locator("form button.primary").click()
    page.locator("#signin-problem").wait_for()
    page.fill("#key", servers.admin_key)
    page.locator("form button.primary").click()
    page.locator("#charts").wait_for()
    assert page.locator("#charts svg[role=img]").count() >= 4
    check_page(page, "admin-overview")
    page.goto(f"{servers.serve}/admin/catalog?q=album-0001")
    form = page.locator('form[data-item="album-0001"]')
    form.locator('input[name="sensitive"]').fill("health")
    assert "sensitive: health" in click(page, form.locator("button"))
    assert page.locator('form[data-item="album-0001"] input[name="sensitive"]').input_value() == "health"
    check_page(page, "admin-catalog")
    page.goto(f"{servers.serve}/admin/person?id=demo-listener")
    assert page.locator("#person-recs > li").count() >= 1
    check_page(page, "admin-person")
    page.goto(f"{servers.serve}/admin/policy")
    check_page(page, "admin-policy")
    audit = _audit_actions(servers)
    assert {"admin.page.signin", "admin.page.catalog_update", "admin.page.person_lookup"} <= audit


def _audit_actions(servers: Servers) -> set[str]:
    import httpx

    resp = httpx.get(f"{servers.serve}/v1/audit", headers={"Authorization": f"Bearer {servers.admin_key}"})
    return {e["action"] for e in resp.json()["entries"]}


def test_serve_has_no_demo_pages_and_docs_work_offline(servers: Servers, browser: Any) -> None:
    import httpx

    assert httpx.get(f"{servers.serve}/store").status_code == 404
    landing = httpx.get(f"{servers.serve}/")
    assert landing.status_code == 200 and "/me" in landing.text and "/admin" in landing.text
    page = open_page(browser)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(servers.serve) else None)
    page.goto(f"{servers.serve}/docs")
    page.locator(".swagger-ui .info").wait_for()
    assert outside == []
    assert not EXTERNAL.search(page.content())


def sign_in(page: Any, servers: Servers) -> None:
    page.goto(f"{servers.serve}/admin")
    page.fill("#key", servers.admin_key)
    page.locator("form button.primary").click()
    page.locator("#charts").wait_for()


def test_preference_center_message_preferences(servers: Servers, browser: Any) -> None:
    import httpx

    page = open_page(browser)
    person = "listener-0010"
    page.goto(f"{servers.serve}/me?token={servers.token(person)}")
    page.wait_for_url(re.compile(r"/me$"))
    locked = page.locator('#topics label[data-topic="account"]')
    assert locked.locator("input").is_disabled() and locked.locator("input").is_checked()
    assert "Required, always sent" in locked.inner_text()
    # choose by label, as a person does: email, a weekly digest on Friday, quiet hours, a zone
    page.get_by_label("Email", exact=True).check()
    page.fill("#msg-email", "ten@mail.example")
    page.get_by_label("Once a week").check()
    page.select_option("#msg-weekday", "friday")
    page.get_by_label("Quiet hours: never anything in this time").check()
    page.fill("#msg-quiet-start", "21:30")
    page.fill("#msg-quiet-end", "07:15")
    page.select_option("#msg-zone", "Europe/Berlin")
    text = click(page, page.locator("#messages-save"))
    assert text.startswith("Saved:") and "weekly on Friday" in text and "Europe/Berlin" in text
    # shown back as stored, and stored as shown
    assert page.locator("#msg-weekday").input_value() == "friday"
    assert page.locator("#msg-zone").input_value() == "Europe/Berlin"
    assert page.locator("#msg-quiet-start").input_value() == "21:30"
    stored = httpx.get(
        f"{servers.serve}/v1/users/{person}/message-preferences",
        headers={"Authorization": f"Bearer {servers.admin_key}"},
    ).json()
    assert stored["channels"] == ["email"] and stored["email"] == "ten@mail.example"
    assert stored["cadence"]["kind"] == "weekly" and stored["cadence"]["weekday"] == "friday"
    assert (
        stored["quiet_hours"] == {"start": "21:30", "end": "07:15"} and stored["timezone"] == "Europe/Berlin"
    )
    # snooze by keyboard: focus the button and press Enter
    page.focus("#snooze")
    assert "paused until" in click_key(page, "Enter")
    assert page.locator("#paused").count() == 1 and page.locator("#resume").count() == 1
    check_page(page, "me-messages")


def click_key(page: Any, key: str) -> str:
    page.evaluate("() => { const f = document.getElementById('flash'); if (f) f.dataset.old = '1'; }")
    page.keyboard.press(key)
    page.wait_for_selector("#flash:not([data-old])")
    return page.locator("#flash").inner_text()


def test_dashboard_experiments_and_outbox(servers: Servers, browser: Any, ops: str) -> None:
    page = open_page(browser)
    sign_in(page, servers)
    page.locator("nav a", has_text="Experiments").click()
    page.wait_for_url(re.compile("/admin/experiments$"))
    card = page.locator(f'#experiments li[data-experiment="{ops}"]')
    assert card.get_attribute("data-status") == "running"
    assert "no_policy: 50 %" in card.inner_text() and "100 %" in card.inner_text()
    check_page(page, "admin-experiments")
    card.locator("h2 a").click()
    page.wait_for_url(re.compile(f"/admin/experiments/{ops}$"))
    assert page.locator("#report svg[role=img]").count() >= 2  # exposures and effect plots
    assert page.locator("#variants tbody tr").count() == 2
    check_page(page, "admin-experiment")
    alone = page.request.get(f"{servers.serve}/admin/experiments/{ops}/report")  # the cookie session
    assert alone.status == 200 and "<svg" in alone.text()
    page.locator("nav a", has_text="Outbox").click()
    page.wait_for_url(re.compile("/admin/outbox$"))
    queued = page.locator('#status-counts li[data-status="queued"] strong').inner_text()
    assert int(queued) >= 2
    assert page.locator("#outbox tbody tr[data-message]").count() >= 2
    check_page(page, "admin-outbox")
    audit = _audit_actions(servers)
    assert {"admin.page.experiment_report", "admin.page.outbox_view"} <= audit
