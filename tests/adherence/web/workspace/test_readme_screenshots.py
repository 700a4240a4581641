"""The README's pictures of the call list and the patient page, taken from the real pages in
Chromium over seeded teams (the test checks what the pictures must show).

Saved under ``test-output/readme/``; ``docs/img/`` holds the committed copies:
``cp test-output/readme/*.png docs/img/`` after a change to those pages."""

from __future__ import annotations

from typing import Any

from tests.adherence.web.workspace.conftest import OUTPUT, Site, sign_in
from tests.adherence.web.workspace.test_today import tiers

WIDTH, HEIGHT = 1100, 760  # the top of each page: what a coordinator sees first


def test_readme_screenshots_of_the_call_list_and_the_patient_page(
    make_site: Any, browser: Any, db_url: str
) -> None:
    site: Site = make_site(seeder=tiers)
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    pg = context.new_page()
    # The pages are checked on both databases; the pictures come from the SQLite run.
    out = OUTPUT / ("readme" if db_url.startswith("sqlite") else "readme-postgresql")
    out.mkdir(parents=True, exist_ok=True)
    try:
        sign_in(pg, site, site.north)
        assert pg.get_by_role("heading", name="Today").is_visible()
        assert pg.get_by_role("button", name="Call back later").count() >= 3
        pg.screenshot(path=str(out / "call-list.png"))
        pg.goto(site.base + f"/workspace/patients/{site.north.patients[1].patient.id}")
        assert pg.get_by_role("heading", name="Adherence calendar").is_visible()
        pg.set_viewport_size({"width": WIDTH, "height": 1240})  # down to the calendar's legend
        pg.screenshot(path=str(out / "patient-page.png"))
    finally:
        context.close()
    for name in ("call-list.png", "patient-page.png"):
        assert (out / name).stat().st_size > 10_000, name
