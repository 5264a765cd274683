"""The book end to end: every notebook of the table of contents under the `smoke` profile, then a
strict Jupyter Book build of the result (warnings, missing references and files are errors)."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml

from equalnets.tools import book

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_toc_lists_every_notebook():
    assert sorted(book.toc_notebooks(ROOT)) == sorted(p.stem for p in SOURCES)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_source_notebook_is_clean(source):
    nb = nbformat.read(source, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "stored with outputs"
    assert "parameters" in code[0].metadata.get("tags", []), "first code cell must be tagged 'parameters'"
    declared = papermill.inspect_notebook(str(source))
    assert "profile" in declared and "device" in declared
    assert all(p["help"] for p in declared.values()), "every parameter needs a one-line comment"


def _parameter_cell(nb) -> list[tuple[str, object, bool]]:
    """(name, literal default, annotated?) of every parameter of a notebook's parameters cell."""
    cell = next(c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", []))
    out = []
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.AnnAssign):
            out.append((node.target.id, ast.literal_eval(node.value), True))
        elif isinstance(node, ast.Assign):
            out.append((node.targets[0].id, ast.literal_eval(node.value), False))
    return out


def _plain(value):
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_is_thin_and_declares_its_modules_parameters(source):
    """The parameters cell lists exactly the chapter module's Parameters, typed, with its defaults,
    which are the quick profile's (so "Run all" in JupyterLab loads the runs `make book` stored);
    no other cell defines a function or class, raises, or runs past 25 lines."""
    module = importlib.import_module(f"equalnets.chapters.{source.stem}")
    nb = nbformat.read(source, as_version=4)
    declared = _parameter_cell(nb)
    assert [name for name, _, _ in declared] == module.Parameters.names()
    assert all(typed for _, _, typed in declared), "every parameter has a type annotation"
    defaults = {f.name: f.default for f in dataclasses.fields(module.Parameters)}
    for name, value, _ in declared:
        assert _plain(value) == _plain(defaults[name]), name
    quick = book.profile_parameters(ROOT, "quick", source.stem)
    for name, value in quick.items():
        if name not in ("interactive", "profile"):  # batch runs switch the widgets off
            assert _plain(value) == _plain(defaults[name]), f"{name}: the default is not the quick profile's"
    assert defaults["interactive"] is True and defaults["profile"] == "quick"
    for cell in nb.cells:
        if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []):
            continue  # the parameters cell is a list of literals, one line per parameter (papermill needs it)
        tree = ast.parse(cell.source)
        assert not [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda,
                                                                 ast.Raise))], cell.source[:80]
        assert len(cell.source.splitlines()) <= 25, cell.source[:80]


GLUE_USE = re.compile(r"\{glue(?::\w+)?\}`(?:executed/(\w+)\.ipynb::)?(\w+)"
                      r"|```\{glue(?::figure)?\}\s+(\w+)\n(?::doc: executed/(\w+)\.ipynb)?")
GLUED = re.compile(r"""glue\(\s*f?["']([^"']+)["']""")


def _glued(nb) -> set[str]:
    return {key for c in nb.cells if c.cell_type == "code" for key in GLUED.findall(c.source)}


def test_every_glue_reference_of_a_book_page_is_glued():
    """What a book page (intro, part pages) shows of a chapter through glue is glued by that chapter's
    notebook (a chapter's own prose is checked on the smoke site: no unrendered glue role)."""
    glued = {p.stem: _glued(nbformat.read(p, as_version=4)) for p in SOURCES}
    for page in (ROOT / "book").glob("*.md"):
        for owner, key, block, doc in GLUE_USE.findall(page.read_text()):
            key, owner = key or block, owner or doc
            assert owner, f"{page.name} uses glue {key!r} without naming its notebook (executed/NAME.ipynb::key)"
            patterns = [g for g in glued[owner] if "{" in g]  # f-string keys: match their fixed part
            assert key in glued[owner] or any(re.fullmatch(re.sub(r"\{[^}]*\}", r"\\w+", g), key) for g in patterns), \
                f"{key!r} is shown but {owner} never glues it"


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_runs_under_smoke(smoke_book, source):
    executed = smoke_book / "book" / "executed" / source.name
    nb = nbformat.read(executed, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    html = (smoke_book / "_build" / "html" / "book" / "executed" / f"{source.stem}.html").read_text()
    assert not re.search(r"\{glue(:\w+)?\}`", html), "an unrendered glue role"
    assert "Traceback" not in html
    assert "<img" in html, "the chapter has no figure"
    first, injected = ([c.metadata.get("tags", []) for c in nb.cells if c.cell_type == "code"][:2])
    assert {"parameters", "remove-cell"} <= set(first) and {"injected-parameters", "remove-cell"} <= set(injected)


@pytest.mark.slow
def test_site_pages(smoke_book):
    html = smoke_book / "_build" / "html"
    for page in ("index.html", "book/intro.html", "book/notation.html", "book/part1.html", "book/references.html",
                 "search.html"):
        assert (html / page).exists(), page
    s3 = (html / "book" / "executed" / "part1_s3_single_architecture.html").read_text()
    assert "Claims" in s3 and "reproduced" in s3
    assert "This page was executed on" in s3 and "profile = 'smoke'" in s3  # the run card under the title
    # figures have numbered captions and the prose refers to them by number
    assert s3.count('<span class="caption-number">Fig. ') >= 6
    assert all(f'href="#{label}"' in s3 for label in re.findall(r'<figure[^>]*id="(fig-s3-[a-z]+)"', s3))
    assert "Hacohen" in (html / "book" / "references.html").read_text()
    for part, tables in (("part1", 7), ("part2", 1), ("part3", 1)):  # the verdicts at a glance, glued
        page = (html / "book" / f"{part}.html").read_text()
        assert page.count(">verdict</th>") == tables, part


GLUE_FIGURE = re.compile(r"```\{glue:figure\}\s+(\S+)\n(.*?)```", re.S)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_figures_are_glued_captioned_and_referenced(source):
    """Every figure a notebook glues is shown by one {glue:figure} with a :name: and a caption, the
    prose refers to it with {numref}, and the cell that draws it is tagged remove-output."""
    nb = nbformat.read(source, as_version=4)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    glued = {key: c for c in nb.cells if c.cell_type == "code"
             for key in re.findall(r'glue\(\s*"([^"]+)",\s*(?:fig\w*|plt\.gcf\(\))\s*[,)]', c.source)}
    shown = {}
    for key, body in GLUE_FIGURE.findall(prose):
        name = re.search(r"^:name: (fig-[a-z0-9-]+)$", body, re.M)
        assert name, f"{key}: a {{glue:figure}} needs ':name: fig-...'"
        assert len(body[name.end():].strip()) >= 40, f"{key}: the caption must say what is shown, with N and units"
        assert f"{{numref}}`{name.group(1)}`" in prose, f"{name.group(1)} is never referred to with {{numref}}"
        assert key not in shown, f"{key} is shown twice"
        shown[key] = name.group(1)
    assert sorted(glued) == sorted(shown), "every glued figure is shown by a {glue:figure}, and only those"
    for key, cell in glued.items():
        assert "remove-output" in cell.metadata.get("tags", []), f"{key}: the cell that draws it must be remove-output"
    drawing = [c for c in nb.cells if c.cell_type == "code" and re.search(r"plt\.(show|subplots|figure)\(", c.source)]
    assert all("remove-output" in c.metadata.get("tags", []) for c in drawing), \
        "a cell that draws a figure shows it only through glue (tag it remove-output)"


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_chapter_figures_are_numbered(smoke_book, source):
    """On the site, every image of a chapter is a figure with a numbered caption ('Fig. N'), and the
    prose links to each figure by its number."""
    html = (smoke_book / "_build" / "html" / "book" / "executed" / f"{source.stem}.html").read_text()
    article = html[html.index('<article class="bd-article"'):html.index("</article>")]
    figures = re.findall(r'<figure[^>]*id="(fig-[a-z0-9-]+)"[^>]*>(.*?)</figure>', article, re.S)
    images = len(re.findall(r"<img ", article))
    assert images == sum(body.count("<img ") for _, body in figures), "an image without a numbered caption"
    for label, body in figures:
        assert re.search(r'<span class="caption-number">Fig\. \d+ </span>', body), f"{label} has no number"
        assert body.count("<img ") == 1, f"{label} shows no image, or several"
        link = rf'<a class="reference internal" href="#{label}"><span class="std std-numref">Fig\. \d+</span></a>'
        assert re.search(link, article.replace(body, "")), f"the prose never refers to {label} by number"


def test_help_notebook_lists_commented_parameters():
    out = subprocess.run([Path(sys.executable).parent / "papermill", "--help-notebook",
                          str(ROOT / "notebooks" / "part1_s3_single_architecture.ipynb")],
                         capture_output=True, text=True, check=True).stdout
    for line in ("n_models: int (default 10)", "epochs: int (default 25)", "dataset: str"):
        assert line in out
    assert "networks in the ensemble" in out


def test_papermill_with_other_parameters(tmp_path, monkeypatch):
    """The README's example with a different data set, shrunk to seconds."""
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(ROOT / "notebooks" / "part1_s3_single_architecture.ipynb"), str(out),
                               parameters=dict(n_models=2, epochs=1, dataset="digits", width=0.25,
                                               train_per_class=10, test_per_class=5),
                               kernel_name="python3", progress_bar=False, cwd=str(ROOT / "notebooks"))
    text = out.read_text()
    assert "digits: 100 train / 50 test images" in text


def test_bad_parameter_fails_with_one_clear_line(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(str(ROOT / "notebooks" / "part1_s3_single_architecture.ipynb"),
                                   str(tmp_path / "out.ipynb"), parameters=dict(n_models="twenty"),
                                   kernel_name="python3", progress_bar=False, cwd=str(ROOT / "notebooks"))
    assert err.value.ename == "ParameterError" and "n_models must be an integer" in err.value.evalue
    assert "\n" not in err.value.evalue


def test_profiles_are_complete_and_checked(tmp_path):
    for profile in book.PROFILES:
        spec = yaml.safe_load((ROOT / "notebooks" / "profiles" / f"{profile}.yaml").read_text())
        assert set(spec["notebooks"]) == {p.stem for p in SOURCES}, profile
        for name in spec["notebooks"]:
            assert book.profile_parameters(ROOT, profile, name)["profile"] == profile
    root = tmp_path
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    (root / "notebooks" / "profiles" / "smoke.yaml").write_text(
        "notebooks:\n  part1_s3_single_architecture:\n    n_model: 3\n")
    with pytest.raises(ValueError, match="n_model"):
        book.profile_parameters(root, "smoke", "part1_s3_single_architecture")
    with pytest.raises(ValueError, match="profile must be one of"):
        book.profile_parameters(ROOT, "fast", "part1_s3_single_architecture")


def test_failed_notebook_keeps_previous_page(tmp_path):
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    executed = tmp_path / "book" / "executed"
    executed.mkdir(parents=True)
    previous = executed / "part1_s3_single_architecture.ipynb"
    previous.write_text(json.dumps({"marker": "previous"}))
    with pytest.raises(book.NotebookFailed, match=r"part1_s3_single_architecture failed .*ParameterError.*epochs"):
        book.execute(tmp_path, "part1_s3_single_architecture", "smoke", {"epochs": 0})
    assert json.loads(previous.read_text()) == {"marker": "previous"}
    assert (executed / ".part1_s3_single_architecture.failed.ipynb").exists()


def test_stored_tells_a_notebook_that_trains_from_one_that_does_not(smoke_book, tmp_path, monkeypatch):
    """After the smoke book, every chapter with runs finds them all in its cache; in an empty cache none
    does; a notebook without a chapter module, or with parameters its module refuses, is never 'stored'."""
    monkeypatch.setenv("EQUALNETS_CACHE", str(smoke_book / "runs"))
    with_runs = [n for n in book.toc_notebooks(ROOT)
                 if book._chapter_module(n).runs(book._chapter_module(n).Parameters.from_namespace(
                     book._namespace(ROOT, n, "smoke", None, None)))]
    assert len(with_runs) >= 10
    assert all(book.stored(ROOT, name, "smoke") for name in with_runs)
    assert not book.stored(ROOT, "part1_s3_single_architecture", "smoke", {"epochs": 3})  # another run
    assert not book.stored(ROOT, "part1_s3_single_architecture", "smoke", {"epochs": 0})  # refused
    assert not book.stored(ROOT, "no_such_chapter", "smoke")
    monkeypatch.setenv("EQUALNETS_CACHE", str(tmp_path / "empty"))
    assert not any(book.stored(ROOT, name, "smoke") for name in with_runs)


def test_stored_notebooks_run_side_by_side_and_one_that_trains_runs_alone(tmp_path, monkeypatch):
    """With jobs=2, the stored notebooks overlap in pairs at most; a notebook that trains starts after
    every earlier one ended and ends before any later one starts; with jobs=1 none overlap."""
    import threading
    import time

    names = ["a_trains", "b", "c", "d_trains", "e", "f"]
    monkeypatch.setattr(book.os, "cpu_count", lambda: 4)  # the rule, not this machine's cores
    monkeypatch.setattr(book, "toc_notebooks", lambda root: names)
    monkeypatch.setattr(book, "stored", lambda root, name, *args: not name.endswith("_trains"))
    spans: dict[str, tuple[float, float]] = {}
    lock = threading.Lock()

    def fake_execute(root, name, *args, **kwargs):
        begun = time.monotonic()
        time.sleep(0.2)
        with lock:
            spans[name] = (begun, time.monotonic())
    monkeypatch.setattr(book, "execute", fake_execute)

    def overlap(x: str, y: str) -> bool:
        return spans[x][0] < spans[y][1] and spans[y][0] < spans[x][1]

    book.build_book(tmp_path, "smoke", site=False, jobs=2)
    assert set(spans) == set(names)
    for trains in ("a_trains", "d_trains"):
        assert not any(overlap(trains, other) for other in names if other != trains)
    assert overlap("b", "c") and overlap("e", "f")
    spans.clear()
    book.build_book(tmp_path, "smoke", site=False, jobs=1)
    assert not any(overlap(x, y) for i, x in enumerate(names) for y in names[i + 1:])
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="jobs must be an integer >= 1"):
            book.build_book(tmp_path, "smoke", site=False, jobs=bad)
