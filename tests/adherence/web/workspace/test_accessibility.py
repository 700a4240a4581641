"""Every workspace page, checked in Chromium for what makes it usable by everyone: a language,
one main heading, a label for every control, names for buttons and links, titles for
charts, no page wider than a phone at 375 px, and a keyboard path to the main content.

The pages are walked from the navigation and from the patient list, so a page added later is
covered as soon as it is linked."""

from __future__ import annotations

from typing import Any

import pytest

from tests.adherence.web.workspace.conftest import Site, screenshot, sign_in

# Run in the page: everything a checker would flag, as a list of plain strings.
AUDIT_JS = """
() => {
  const problems = [];
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  if (!document.documentElement.lang) problems.push("no lang on <html>");
  const h1 = document.querySelectorAll("h1");
  if (h1.length !== 1) problems.push(`${h1.length} <h1> elements`);
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || !visible(el)) continue;
    const named = (el.id && document.querySelector(`label[for="${el.id}"]`)) ||
      el.closest("label") || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
    if (!named) problems.push(`unlabelled ${el.tagName.toLowerCase()} name=${el.name}`);
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (!visible(el)) continue;
    const name = (el.innerText || el.getAttribute("aria-label") || el.title || "").trim();
    if (!name) problems.push(`${el.tagName.toLowerCase()} without a name`);
  }
  for (const svg of document.querySelectorAll("svg")) {
    if (svg.getAttribute("aria-hidden") === "true") continue;
    if (!svg.querySelector("title") && !svg.getAttribute("aria-label"))
      problems.push("svg without a title");
  }
  for (const img of document.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) problems.push("img without alt");
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    problems.push(`page is ${document.documentElement.scrollWidth}px wide`);
  return problems;
}
"""


def _pages(site: Site) -> list[str]:
    """The signed-in pages reachable from the navigation, plus one patient's page."""
    paths = ["/workspace/", "/workspace/patients", "/workspace/team"]
    paths.append(f"/workspace/patients/{site.north.patients[1].patient.id}")
    return paths


@pytest.mark.parametrize("width", [1280, 375])
def test_every_workspace_page_passes_the_accessibility_checks(
    site: Site, browser: Any, width: int, request: pytest.FixtureRequest
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    pg = context.new_page()
    try:
        pg.goto(site.base + "/workspace/signin")
        assert pg.evaluate(AUDIT_JS) == [], "sign-in page"
        sign_in(pg, site, site.north)
        for path in _pages(site):
            response = pg.goto(site.base + path)
            assert response.status == 200, path
            assert pg.evaluate(AUDIT_JS) == [], path
            screenshot(pg, request, "_" + path.strip("/").replace("/", "-"))
        # The first Tab reaches the skip link, which leads to the main content.
        pg.goto(site.base + "/workspace/")
        pg.keyboard.press("Tab")
        assert pg.evaluate("document.activeElement.textContent") == "Skip to content"
        pg.keyboard.press("Enter")
        assert pg.evaluate("document.activeElement.id") == "main"
    finally:
        context.close()
