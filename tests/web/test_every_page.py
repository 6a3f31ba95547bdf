"""Every page of every role, in Chromium: no serious or critical axe-core violation, no duplicate
element id, every collapsible section visibly collapsible, and no table or form wider than a 390 px phone (issue 12, "make the screens clinical-grade").

Each role signs in and the crawler follows every same-origin link it is shown (breadth first, two
examples of each page pattern such as ``/patients/{id}``), so a new page is checked without a test
naming it. Downloads (PDF, CSV, SVG, FHIR JSON) and sign-out are not followed.
"""

from __future__ import annotations

import re
from collections import deque
from urllib.parse import urlsplit

import pytest

from tests.web.browser_support import AXE, PASSWORD, settle, submit

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser_crawl")]  # its own worker: the crawl is a third of the browser time

ROLES = ["admin", "physician", "nurse", "coordinator", "patient"]
SKIP = re.compile(r"(/logout|\.pdf|\.svg|\.csv|\.json|/export|/download|/fhir|\.ics|/static/|/healthz|/api/)")
PER_PATTERN = 2
MAX_PAGES = 60

DUPLICATE_IDS = """() => {
  const seen = {}; const dups = [];
  for (const el of document.querySelectorAll('[id]')) { if (seen[el.id]) dups.push(el.id); seen[el.id] = true; }
  return dups;
}"""
SUMMARIES_WITHOUT_A_MARK = """() => [...document.querySelectorAll('details > summary')]
  .filter(s => getComputedStyle(s, '::before').content === 'none' && getComputedStyle(s).display !== 'list-item')
  .map(s => s.textContent.trim().slice(0, 40))"""
WIDER_THAN_VIEWPORT = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll('main *')) {
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 1 && getComputedStyle(el).position !== 'fixed') {
      // an element inside a horizontally scrollable wrapper is fine (wide tables scroll in their box)
      let p = el.parentElement, scrolls = false;
      while (p && p !== document.body) {
        const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll') { scrolls = true; break; }
        p = p.parentElement;
      }
      if (!scrolls) out.push((el.id ? '#' + el.id : el.tagName.toLowerCase()) + ' ' + Math.round(box.right) + 'px');
    }
  }
  return out.slice(0, 5);
}"""


def _pattern(path: str) -> str:
    return re.sub(r"/\d+", "/{id}", path)


def _sign_in(page, base: str, username: str) -> None:
    page.goto(base + "/login")
    page.fill("#f-username", username)
    page.fill("#f-password", PASSWORD)
    submit(page, "button[type=submit]")
    assert "/login" not in page.url, f"{username} could not sign in"


def _links(page, base: str) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    out = []
    for href in hrefs:
        if not href or href.startswith(("#", "mailto:", "tel:", "javascript:")):
            continue
        parts = urlsplit(href if href.startswith("http") else base + href)
        if f"{parts.scheme}://{parts.netloc}" != base or SKIP.search(parts.path):
            continue
        out.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return out


def _crawl(page, base: str) -> list[str]:
    """The pages a signed-in user can reach by following links from the first page."""
    start = urlsplit(page.url).path
    queue, seen, patterns, visited = deque([start]), {start}, {}, []
    while queue and len(visited) < MAX_PAGES:
        path = queue.popleft()
        key = _pattern(urlsplit(path).path)
        if patterns.get(key, 0) >= PER_PATTERN:
            continue
        response = page.goto(base + path)
        settle(page)
        assert response is not None and response.status < 500, f"{path}: {response and response.status}"
        if response.status >= 400 or "/login" in page.url:
            continue
        patterns[key] = patterns.get(key, 0) + 1
        visited.append(path)
        yield path
        for link in _links(page, base):
            if link not in seen:
                seen.add(link)
                queue.append(link)
    return visited


def _axe(page) -> list[tuple[str, str, list]]:
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
            if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("role", ROLES)
def test_every_page_of_every_role_is_accessible_and_has_unique_ids(browser, server, role: str) -> None:
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15000)
    page = context.new_page()
    try:
        _sign_in(page, server.url, role)
        problems, pages = [], []
        for path in _crawl(page, server.url):
            pages.append(path)
            problems += [f"{path}: duplicate id #{d}" for d in page.evaluate(DUPLICATE_IDS)]
            problems += [f"{path}: axe {v}" for v in _axe(page)]
            problems += [f"{path}: a collapsible section without its mark: {s}"
                         for s in page.evaluate(SUMMARIES_WITHOUT_A_MARK)]
        assert len(pages) >= 3, f"{role} reached only {pages}"
        assert not problems, "\n".join(problems)
    finally:
        context.close()


@pytest.mark.parametrize("role", ROLES)
def test_every_page_fits_a_390_px_phone(browser, server, role: str) -> None:
    context = browser.new_context(bypass_csp=True, viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(15000)
    page = context.new_page()
    try:
        _sign_in(page, server.url, role)
        problems = []
        for path in _crawl(page, server.url):
            problems += [f"{path}: wider than the phone: {w}" for w in page.evaluate(WIDER_THAN_VIEWPORT)]
        assert not problems, "\n".join(problems)
    finally:
        context.close()
