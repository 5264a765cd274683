"""Sphinx extension for the book's site: everything a reader's browser needs comes from the site
itself, and the pages load without console errors.

* MathJax 3 is served from ``_static/mathjax`` (copied from the ``django-static-mathjax`` wheel)
  instead of Sphinx's default CDN, so the math renders offline.
* pydata-sphinx-theme's ``default_mode`` (an ``html_context`` value) is set: an empty one logs
  "invalid theme mode" on a reader's first visit.
* Every executed chapter gets, under its title, the parameters, date and duration of its execution
  (papermill's metadata), a download of the executed notebook itself (a Sphinx download: copied to
  ``_build/html/_downloads/<hash>/<name>.ipynb``), and the commands that open its source notebook
  in JupyterLab and run it with other parameters (no repository URL needed, unlike launch
  buttons).
* sphinx-thebe 0.3.1 registers its inline configuration script twice under Sphinx 7.4, which
  throws "Identifier 'THEBE_JS_URL' has already been declared" on every page (Sphinx keeps the
  inline script once with filename None, from the builder, and once with '', from the registry):
  identical inline scripts are kept once.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mathjax  # django-static-mathjax: MathJax 3 served from the site itself
from docutils import nodes
from sphinx import addnodes

# The parts of MathJax's es5 build that tex-mml-chtml.js loads: the component, its fonts and the
# TeX extensions it may autoload (the whole es5 folder is 40 MB, mostly the speech engine).
MATHJAX_PARTS = ("tex-mml-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions", "ui", "a11y")


def _mathjax_es5() -> Path | None:
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    return es5 if (es5 / "tex-mml-chtml.js").exists() else None


def _use_local_mathjax(app, config) -> None:
    es5 = _mathjax_es5()
    if es5 is None:  # keep Sphinx's CDN default
        return
    static = Path(app.outdir).parent / "site-static"  # _build/site-static, next to _build/html
    target = static / "mathjax"
    if not (target / "tex-mml-chtml.js").exists():
        for part in MATHJAX_PARTS:
            src, dst = es5 / part, target / part
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True)
            elif src.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
    config.html_static_path.append(str(static))
    config.mathjax_path = "mathjax/tex-mml-chtml.js"


def _set_theme_mode(app, config) -> None:
    config.html_context.setdefault("default_mode", "auto")  # pydata-sphinx-theme reads it from the context


def _dedupe_inline_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts, seen = [], set()
    for script in context.get("script_files", []):
        # the same inline script arrives once with filename None and once with '' (see above)
        key = (str(script.filename or ""), tuple(sorted((k, str(v)) for k, v in script.attributes.items())))
        if key not in seen:
            seen.add(key)
            scripts.append(script)
    context["script_files"] = scripts


def _run_record(path: Path) -> str:
    """When, how long and with which parameters papermill executed the notebook (its metadata)."""
    try:
        meta = json.loads(path.read_text()).get("metadata", {}).get("papermill", {})
    except (OSError, ValueError):
        return ""
    params = meta.get("parameters") or {}
    when = str(meta.get("start_time") or "")[:16].replace("T", " ")
    duration = meta.get("duration")
    text = "This page was executed"
    if when:
        text += f" on {when} UTC"
    if isinstance(duration, (int, float)):
        text += f" in {duration / 60:.1f} min"
    if params:
        text += " with " + ", ".join(f"{k} = {v!r}" for k, v in params.items())
        text += " (every other parameter at its default; the first output below lists them)"
    return text + ". "


def _jupyterlab_hint(app, doctree) -> None:
    """Under the title of every executed chapter: the parameters and time it ran with, a download
    of the executed notebook, how to open its source notebook in JupyterLab and how to run it with
    other parameters (the chapter's name is its source's name).

    Runs on ``doctree-read`` before Sphinx's download collector (priority 400 < 500), which copies
    the file a ``download_reference`` names into ``_downloads/`` and sets its link."""
    docname = app.env.docname
    if not docname.startswith("book/executed/"):
        return
    name = docname.rsplit("/", 1)[-1]
    source = Path(app.env.doc2path(docname))
    note = nodes.admonition(classes=["tip", "jupyterlab-hint"])
    note += nodes.title("", "How this page was made, and how to run it yourself")
    record = _run_record(source)
    if record:
        note += nodes.paragraph("", record)
    if source.suffix == ".ipynb":
        para = nodes.paragraph()
        para += nodes.Text("Download this page as a notebook, with its outputs: ")
        link = addnodes.download_reference("", "", refdoc=docname, refdomain="", reftype="download",
                                           refexplicit=True, reftarget=source.name,
                                           classes=["jupyterlab-download"])
        link += nodes.literal("", source.name, classes=["xref", "download"])
        para += link
        para += nodes.Text(" (it opens in any JupyterLab; its parameters are the ones above, so "
                           "its widgets are off: set interactive = True to explore).")
        note += para
    para = nodes.paragraph()
    para += nodes.Text("Interactive, with its widgets, from the repository's root: ")
    para += nodes.literal("", "make lab", classes=["jupyterlab-command"])
    para += nodes.Text(" (sets up, registers the kernel \"Python (equalnets)\" and opens JupyterLab on "
                       "notebooks/), or, once set up, ")
    para += nodes.literal("", f".venv/bin/jupyter lab notebooks/{name}.ipynb", classes=["jupyterlab-command"])
    para += nodes.Text("; its defaults are the quick profile's, so \"Run all\" there gives the quick "
                       "page and loads at once the networks that make book stored. With other parameters: ")
    para += nodes.literal("", f".venv/bin/papermill notebooks/{name}.ipynb out.ipynb -p NAME VALUE")
    para += nodes.Text(" (")
    para += nodes.literal("", f".venv/bin/papermill --help-notebook notebooks/{name}.ipynb")
    para += nodes.Text(" lists them).")
    note += para
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None and section.children and isinstance(section[0], nodes.title):
        section.insert(1, note)


def setup(app):
    app.connect("doctree-read", _jupyterlab_hint, priority=400)  # before the download collector
    app.connect("config-inited", _use_local_mathjax)
    app.connect("config-inited", _set_theme_mode)
    app.connect("html-page-context", _dedupe_inline_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
