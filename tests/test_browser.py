"""The site as a reader sees it: the smoke book, served on 127.0.0.1 and walked page by page in
headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright through its
``executable_path``; Playwright's own browser download is never used).

On every HTML page of ``_build/html``: no JavaScript error and no failed request from our own
origin, every ``<img>`` loaded and non-empty, all math typeset by MathJax, every internal link
pointing to an existing file and every ``#anchor`` to an element of its target page. The home
page and Part I's page must show the values and the claims table glued from the §3 chapter, the
search page must find a word of a chapter, the §3 chapter's download link must give its executed
notebook (a valid .ipynb, the one the page was made from) next to the command that opens it in
JupyterLab, and screenshots of the home page and of the §3 chapter
are kept in ``$EQUALNETS_ARTIFACTS`` (default: a pytest temporary folder; the path is printed).

Requests to any other origin are aborted and listed, never waited for: the site must work
offline, MathJax included (the book's Sphinx extension ``equalnets.site`` serves it from the
site itself).

Skipped with a reason when there is no Chromium (set ``EQUALNETS_CHROMIUM`` to another binary) or
no Playwright. ``EQUALNETS_SITE=_build/html`` checks an already built site instead of building
the smoke book (e.g. after ``make book``).
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import nbformat
import pytest

from conftest import CHROMIUM_ARGS, chromium_or_skip, stall_watchdog

CHROMIUM, sync_api = chromium_or_skip()

pytestmark = pytest.mark.slow

CHAPTER_S3 = "book/executed/part1_s3_single_architecture.html"
HOME = "book/intro.html"
MATH_PAGES = ("book/notation.html", CHAPTER_S3)
SEARCH_WORD = "consistency"
TIMEOUT_MS = 30_000
# A test body that runs longer than this is stalled (once, here, the Playwright driver died and the
# test waited on it for ever): the watchdog turns that into a failure instead of a hang of the suite.
WATCHDOG_S = 300
# --- the site and its server ------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(request) -> Path:
    """The built ``_build/html``: $EQUALNETS_SITE if set, else the smoke book's."""
    given = os.environ.get("EQUALNETS_SITE")
    html = Path(given).resolve() if given else request.getfixturevalue("smoke_book") / "_build" / "html"
    assert (html / "index.html").exists(), f"no built site at {html}"
    return html


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def origin(site) -> str:
    """``http://127.0.0.1:<free port>`` serving the site from a thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("EQUALNETS_ARTIFACTS") or tmp_path_factory.mktemp("browser-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser test artifacts: {folder}")
    return folder


@pytest.fixture(autouse=True)
def _watchdog():
    """Fail a test body that stalls for WATCHDOG_S seconds instead of hanging the suite."""
    with stall_watchdog(WATCHDOG_S, "browser test (has the Playwright driver or Chromium died?)"):
        yield


# --- the browser --------------------------------------------------------------------------------

@dataclass
class Network:
    """What the pages asked for outside our origin (aborted, never waited for)."""

    origin: str
    remote: set[str] = field(default_factory=set)

    def route(self, route) -> None:
        url = route.request.url
        if url.startswith(self.origin) or url.startswith(("data:", "blob:")):
            route.continue_()
            return
        self.remote.add(url)
        route.abort("internetdisconnected")


@pytest.fixture(scope="module")
def browser(tmp_path_factory, origin):
    """A Chromium context with a new empty profile; every non-local request goes through Network."""
    network = Network(origin)
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM),
            headless=True, args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        context.route("**/*", network.route)
        yield context, network
        context.close()
    if network.remote:
        print("\nrequests to other origins (aborted; they must not matter):\n  " + "\n  ".join(sorted(network.remote)))


@dataclass
class Visit:
    """One page as the browser saw it."""

    page: str
    final_url: str
    errors: list[str]
    images: list[dict]
    links: list[str]
    ids: set[str]
    math_elements: int
    math_typeset: int
    math_errors: int
    pasted: list[str]
    table_headers: list[str]


# Gathered in the page after load: images (made eager and decoded), links, ids and math.
PAGE_STATE = """async () => {
  const imgs = [...document.images];
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  return {
    images: imgs.map(i => ({src: i.currentSrc || i.src, complete: i.complete, width: i.naturalWidth,
                            height: i.naturalHeight})),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id)
           .concat([...document.querySelectorAll('a[name]')].map(a => a.name)),
    math: document.querySelectorAll('.math').length,
    typeset: document.querySelectorAll('.math mjx-container, mjx-container.MathJax').length,
    merror: document.querySelectorAll('mjx-merror, .math [data-mjx-error]').length,
    pasted: [...document.querySelectorAll('.pasted-text')].map(e => e.textContent.trim()),
    headers: [...document.querySelectorAll('table th')].map(e => e.textContent.trim()),
  };
}"""

# MathJax 3 resolves startup.promise once its first typesetting pass is done.
MATHJAX_LOADED = "() => !document.querySelector('.math') || !!(window.MathJax && MathJax.startup && MathJax.startup.promise)"
MATHJAX_DONE = "() => window.MathJax && MathJax.startup ? MathJax.startup.promise.then(() => true) : true"


def wait_for_math(tab) -> None:
    tab.wait_for_function(MATHJAX_LOADED, timeout=TIMEOUT_MS)
    tab.evaluate(MATHJAX_DONE)


REFRESH = re.compile(r"""<meta\s+http-equiv=["']refresh["']\s+content=["']\d+;\s*url=([^"']+)["']""", re.I)


def visit(context, origin: str, site: Path, page: str) -> Visit:
    """Load ``page`` (following a meta-refresh redirect such as index.html's), let MathJax finish,
    and gather the page's state; errors from our origin are collected from the first request on."""
    redirect = REFRESH.search((site / page).read_text(errors="replace"))
    tab = context.new_page()
    errors: list[str] = []

    def ours(url: str) -> bool:
        return not url or url.startswith(origin)

    tab.on("pageerror", lambda exc: errors.append(f"uncaught exception: {exc}"))
    tab.on("console", lambda msg: errors.append(f"console.error: {msg.text} ({msg.location.get('url')})")
           if msg.type == "error" and ours(msg.location.get("url", "")) else None)
    tab.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.url}")
           if r.status >= 400 and ours(r.url) else None)
    tab.on("requestfailed", lambda r: errors.append(f"request failed ({r.failure}): {r.url}")
           if ours(r.url) else None)
    tab.goto(f"{origin}/{page}", wait_until="load")
    if redirect:
        tab.wait_for_url(urljoin(f"{origin}/{page}", redirect.group(1)), wait_until="load")
    try:
        wait_for_math(tab)
    except sync_api.TimeoutError:
        errors.append("MathJax did not finish typesetting")
    state = tab.evaluate(PAGE_STATE)
    result = Visit(page, tab.url, errors, state["images"], state["links"], set(state["ids"]),
                   state["math"], state["typeset"], state["merror"], state["pasted"], state["headers"])
    tab.close()
    return result


@pytest.fixture(scope="module")
def pages(site) -> list[str]:
    """Every HTML page of the site (the sitemap: all .html files outside _static/_sources)."""
    found = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                   if not p.relative_to(site).parts[0].startswith("_"))
    for needed in ("index.html", HOME, "book/notation.html", "book/part1.html", CHAPTER_S3, "search.html"):
        assert needed in found, f"the site has no {needed}"
    return found


@pytest.fixture(scope="module")
def walk(browser, origin, pages, site) -> dict[str, Visit]:
    context, _ = browser
    visits = {page: visit(context, origin, site, page) for page in pages}
    print(f"\nchecked {len(visits)} pages in Chromium: " + ", ".join(visits))
    return visits


# --- the checks -----------------------------------------------------------------------------

def test_pages_load_without_errors(walk):
    bad = {page: v.errors for page, v in walk.items() if v.errors}
    assert not bad, json.dumps(bad, indent=1)


def test_home_redirects_to_intro(walk, origin):
    assert walk["index.html"].final_url == f"{origin}/{HOME}"


def test_every_image_is_loaded(walk, origin):
    bad = {page: [i["src"] for i in v.images if i["src"].startswith(origin)
                  and not (i["complete"] and i["width"] > 0 and i["height"] > 0)]
           for page, v in walk.items()}
    bad = {page: srcs for page, srcs in bad.items() if srcs}
    assert not bad, f"images not loaded or empty: {bad}"
    assert walk[CHAPTER_S3].images, "the §3 chapter shows no image"


def test_math_is_typeset(walk):
    for page in MATH_PAGES:
        assert walk[page].math_elements > 0, f"{page} has no math"
        assert walk[page].math_typeset > 0, f"MathJax rendered nothing on {page}"
    bad = {page: (v.math_elements, v.math_typeset, v.math_errors) for page, v in walk.items()
           if v.math_typeset < v.math_elements or v.math_errors}
    assert not bad, f"(math elements, typeset, TeX errors) per page: {bad}"


def test_home_and_part_pages_show_glued_results(walk):
    """The numbers on the home page and the verdicts table of Part I are glued from the §3
    chapter (cross-document glue): present, and not empty."""
    home = walk[HOME].pasted
    assert len(home) >= 7 and all(home), f"glued values on the home page: {home}"
    assert any("reproduced" in text for text in home), home
    part1 = walk["book/part1.html"]
    assert {"claim", "paper", "this book", "verdict", "rule"} <= set(part1.table_headers), part1.table_headers


def _local_file(site: Path, origin: str, url: str) -> Path | None:
    """The file under ``site`` that an absolute URL of our origin names (None: another origin)."""
    if not url.startswith(origin + "/"):
        return None
    path = unquote(urlsplit(url).path).lstrip("/")
    target = site / path
    return target / "index.html" if (not path or target.is_dir()) else target


def test_internal_links_resolve(walk, site, origin):
    missing, anchors = set(), set()
    for page, v in walk.items():
        for url in v.links:
            target = _local_file(site, origin, url)
            if target is None:
                continue
            if not target.is_file():
                missing.add(f"{page} -> {url}")
                continue
            fragment = unquote(urlsplit(url).fragment)
            target_page = target.relative_to(site).as_posix()
            if fragment and target_page in walk and fragment not in walk[target_page].ids:
                anchors.add(f"{page} -> {target_page}#{fragment}")
    assert not missing, "links to missing files:\n" + "\n".join(sorted(missing))
    assert not anchors, "links to missing anchors:\n" + "\n".join(sorted(anchors))


def test_search_finds_a_chapter(browser, origin):
    context, _ = browser
    tab = context.new_page()
    tab.goto(f"{origin}/search.html?q={SEARCH_WORD}", wait_until="load")
    # searchtools.js fills #search-results and, once finished, writes the summary line
    tab.wait_for_function("() => { const s = document.querySelector('#search-results .search-summary');"
                          " return s && s.textContent.trim().length > 0; }")
    hits = tab.eval_on_selector_all("#search-results ul.search li a", "as => as.map(a => a.href)")
    tab.close()
    assert any(CHAPTER_S3 in h for h in hits), f"searching {SEARCH_WORD!r} did not list {CHAPTER_S3}: {hits}"


def test_screenshots(browser, origin, artifacts):
    context, _ = browser
    for page, name in ((HOME, "home.png"), (CHAPTER_S3, "s3_single_architecture.png")):
        tab = context.new_page()
        tab.goto(f"{origin}/{page}", wait_until="load")
        wait_for_math(tab)
        tab.screenshot(path=str(artifacts / name), full_page=True)
        tab.close()
        assert (artifacts / name).stat().st_size > 10_000, f"{name} looks empty"
    print(f"\nscreenshots: {artifacts / 'home.png'}, {artifacts / 's3_single_architecture.png'}")


def test_chapter_offers_its_executed_notebook(browser, origin, site, artifacts):
    """The box under the §3 chapter's title: a download link that gives the executed notebook (as a
    browser download: a valid .ipynb with outputs, the very file the page was rendered from) and
    the commands that open it in JupyterLab."""
    context, _ = browser
    name = Path(CHAPTER_S3).stem
    tab = context.new_page()
    tab.goto(f"{origin}/{CHAPTER_S3}", wait_until="load")
    hint = tab.locator(".jupyterlab-hint")
    text = " ".join(hint.inner_text().split())
    assert "make lab" in text and f".venv/bin/jupyter lab notebooks/{name}.ipynb" in text, text
    link = hint.locator("a.download")
    assert link.count() == 1, "no download link in the box under the chapter's title"
    with tab.expect_download(timeout=TIMEOUT_MS) as info:
        link.click()
    download = info.value
    assert download.failure() is None, download.failure()
    target = artifacts / download.suggested_filename
    download.save_as(target)
    tab.close()
    assert target.name == f"{name}.ipynb", target.name
    nb = nbformat.read(target, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code), "the download is not an executed notebook"
    assert any(c.outputs for c in code) and "papermill" in nb.metadata
    executed = site.parent.parent / "book" / "executed" / f"{name}.ipynb"
    if executed.exists():  # the smoke book, or EQUALNETS_SITE=_build/html of this checkout
        assert target.read_bytes() == executed.read_bytes(), f"the download differs from {executed}"


ATLAS = "book/executed/part5_difficulty_atlas.html"
ATLAS_TABLE = "difficulty-atlas"


def test_atlas_table_is_served_from_the_atlas_chapter_and_the_home_page(browser, origin, site, artifacts):
    """The base run's table of every difficulty score (Part V) is a download on the atlas chapter and on
    the home page: the Parquet link gives the file the notebook wrote (pandas reads it), the CSV and
    the data dictionary links serve theirs."""
    import pandas as pd

    context, _ = browser
    executed = site.parent.parent / "book" / "executed"
    for page in (HOME, ATLAS):
        tab = context.new_page()
        tab.goto(f"{origin}/{page}", wait_until="load")
        links = tab.eval_on_selector_all("a.download", "as => as.map(a => a.href)")
        found = {ext: [h for h in links if unquote(h).endswith(f"{ATLAS_TABLE}{ext}")]
                 for ext in (".parquet", ".csv", "-dictionary.md")}
        assert all(found.values()), f"{page} lacks a download of the atlas table: {links}"
        with tab.expect_download(timeout=TIMEOUT_MS) as info:
            tab.locator(f'a.download[href$="{ATLAS_TABLE}.parquet"]').first.click()
        download = info.value
        assert download.failure() is None, download.failure()
        target = artifacts / f"{Path(page).stem}-{download.suggested_filename}"
        download.save_as(target)
        tab.close()
        frame = pd.read_parquet(target)
        assert len(frame) > 0 and {"split", "source_index", "label", "c_score"} <= set(frame.columns)
        if (executed / f"{ATLAS_TABLE}.parquet").exists():  # the smoke book, or this checkout's site
            assert target.read_bytes() == (executed / f"{ATLAS_TABLE}.parquet").read_bytes()
        for ext, head in ((".csv", "dataset,split,row,source_index,label"), ("-dictionary.md", "# Data dictionary")):
            response = context.request.get(found[ext][0])
            assert response.status == 200, (found[ext][0], response.status)
            assert response.text().startswith(head), response.text()[:80]
