"""JupyterLab as its users meet it: ``jupyter lab`` started from the venv, a chapter opened in
headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright through its
``executable_path``, as in test_browser.py), "Run > Run All Cells" clicked, and the widgets moved.

The server runs on 127.0.0.1 at a free port, with no token and no password, on a temporary root
folder that holds copies of ``notebooks/`` (the two chapters under test get the ``smoke``
profile's values appended to their parameters cell, with ``interactive = True`` so the widgets
appear, and the kernel "Python (equalnets)" that ``make lab`` registers). Settings, workspaces,
runtime files, kernelspecs, IPython's profile and the run cache (``EQUALNETS_CACHE``) are
temporary folders too: nothing of the user's is read or written.

For the §3 chapter: every code cell runs, none shows an error (on the page, and in the notebook
as saved by JupyterLab), the epoch explorer (an ipywidgets SelectionSlider and a Dropdown) is
there, moving the epoch slider with the keyboard redraws the histograms (the output image
differs) and switching the score to "consensus" redraws them again. Screenshots of the explorer
before and after are kept in ``$EQUALNETS_ARTIFACTS`` (default: a pytest temporary folder; the
path is printed). For Part III (Jumpout): every cell runs without an error, and its explorer's
three dropdowns (arch, variant, layer) redraw its figure.

A notebook of the test's own whose one cell sleeps for an hour (a hung kernel) fails its wait with the
test's message within its 15 s timeout, and closing it shuts its busy kernel down (the process exits).

Both chapters are opened, each in a tab and a JupyterLab workspace of its own, and started at
once (two kernels side by side); each test then waits for its own. About 2.5 min on a 2-core
machine.

The server is stopped, its kernels too, and its port freed even when a test fails; every wait has
a timeout and a SIGALRM watchdog fails a stalled test, so a hung kernel fails the test instead of
hanging the suite. Skipped with a reason without Chromium (``EQUALNETS_CHROMIUM`` names another
binary), Playwright or JupyterLab.
"""

from __future__ import annotations

import http.cookies
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from conftest import CHROMIUM_ARGS, chromium_or_skip, stall_watchdog

from equalnets.tools import book

CHROMIUM, sync_api = chromium_or_skip()
pytest.importorskip("jupyterlab", reason="jupyterlab is not installed (pip install -r requirements.txt)")

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
S3 = "part1_s3_single_architecture"
PART3 = "part3_jumpout"
HUNG = "hung_kernel"  # a notebook of the test's own whose one cell never returns
KERNEL = "equalnets"
KERNEL_DISPLAY = "Python (equalnets)"  # the Makefile's `lab` target registers this one
TIMEOUT_MS = 30_000          # one click, one redraw
OPEN_TIMEOUT_MS = 120_000    # JupyterLab's first load and a kernel start, on a busy 2-core machine
RUN_TIMEOUT_MS = 240_000     # "Run All Cells" of one smoke chapter
HUNG_TIMEOUT_MS = 15_000     # the hung kernel's notebook is given this long, then fails
KERNEL_GONE_S = 30           # a kernel shut down through the API has exited within this
SERVER_START_S = 90
SAVE_TIMEOUT_S = 30
# A test body (open, run all, the widgets) that runs longer than this is stalled: a hung kernel, or
# a dead Playwright driver; the watchdog fails it instead of hanging the suite (Run All Cells of
# Part III takes up to 150 s on a 2-core machine busy with other work).
WATCHDOG_S = 360


# --- the server ---------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server binds (TIME_WAIT is fine)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (the server's kernels: jupyter_client starts each in a
    session of its own, so they are not in the server's process group)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _is_kernel(pid: int) -> bool:
    """Whether process ``pid`` is a running ipykernel (not gone, not a zombie)."""
    try:
        return b"ipykernel" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _smoke_copy(name: str, target: Path) -> dict:
    """notebooks/<name>.ipynb with the smoke profile's values (and interactive = True) appended to
    its parameters cell, run by the registered kernel; the parameters it got."""
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    params = {**book.profile_parameters(ROOT, "smoke", name), "interactive": True}
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = cell.source.rstrip() + "\n\n# tests/test_lab.py: the smoke profile, widgets on\n" + \
        "\n".join(f"{key} = {value!r}" for key, value in params.items())
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": KERNEL_DISPLAY, "language": "python"}
    nbformat.write(nb, target)
    return params


class Lab:
    """A running ``jupyter lab``: its URL, root folder and log."""

    def __init__(self, base: Path):
        self.base = base
        self.root = base / "root"
        self.log = base / "server.log"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.kernels: set[int] = set()

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("JUPYTER", "MPLBACKEND", "IPYTHONDIR"))}  # inline plots, our folders only
        env.update(JUPYTER_CONFIG_DIR=str(self.base / "config"), JUPYTER_DATA_DIR=str(self.base / "data"),
                   JUPYTER_RUNTIME_DIR=str(self.base / "runtime"),
                   JUPYTERLAB_SETTINGS_DIR=str(self.base / "settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(self.base / "workspaces"),
                   IPYTHONDIR=str(self.base / "ipython"), EQUALNETS_CACHE=str(self.base / "runs"))
        return env

    def prepare(self) -> dict[str, dict]:
        env = self.env()
        shutil.copytree(ROOT / "notebooks", self.root / "notebooks",
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        params = {name: _smoke_copy(name, self.root / "notebooks" / f"{name}.ipynb") for name in (S3, PART3)}
        hung = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(3600)  # hangs")])
        hung.metadata["kernelspec"] = {"name": KERNEL, "display_name": KERNEL_DISPLAY, "language": "python"}
        nbformat.write(hung, self.root / "notebooks" / f"{HUNG}.ipynb")
        # what `make lab` does (there with --sys-prefix; here into the temporary data folder)
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user", "--name", KERNEL,
                        "--display-name", KERNEL_DISPLAY], env=env, check=True, capture_output=True, timeout=60)
        # User settings: no news or update checks from jupyter.org (nothing outside is reachable, and
        # their toasts cover cells); no autosave (its write can race the test's File > Save and raise
        # JupyterLab's "File Changed" dialog); each cell's execution times in its metadata.
        for plugin, values in (("apputils-extension/notification", {"checkForUpdates": False, "fetchNews": "false"}),
                               ("docmanager-extension/plugin", {"autosave": False}),
                               ("notebook-extension/tracker", {"recordTiming": True})):
            target = self.base / "settings" / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(values))
        return params

    def start(self) -> None:
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
               "--ServerApp.password=", f"--ServerApp.root_dir={self.root}",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # containers; a user's laptop never needs it
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"jupyter lab did not answer within {SERVER_START_S} s:\n{self.log_tail()}")
            time.sleep(0.5)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def remember_kernels(self) -> None:
        if self.proc is not None:
            self.kernels.update(_children(self.proc.pid))

    def delete(self, api_path: str, timeout: float = 15) -> None:
        """DELETE ``api_path`` (``/api/...``) with the server's XSRF cookie and header: without a token,
        Jupyter Server answers a DELETE without them with 403."""
        if not getattr(self, "xsrf", None):
            with urllib.request.urlopen(f"{self.url}/lab", timeout=10) as r:
                cookies = http.cookies.SimpleCookie()
                for header in r.headers.get_all("Set-Cookie") or []:
                    cookies.load(header)
            self.xsrf = cookies["_xsrf"].value
        req = urllib.request.Request(f"{self.url}{api_path}", method="DELETE",
                                     headers={"X-XSRFToken": self.xsrf, "Cookie": f"_xsrf={self.xsrf}"})
        urllib.request.urlopen(req, timeout=timeout).close()

    def shutdown_kernels(self, path: str | None = None) -> None:
        """Shut down, through the REST API, the kernels of the sessions on ``path`` (None: all); a
        failure is printed (the server's stop kills what is left)."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/sessions", timeout=5) as r:
                sessions = json.load(r)
            for session in sessions:
                if path is None or session.get("path") == path:
                    self.delete(f"/api/sessions/{session['id']}")
            if path is None:
                with urllib.request.urlopen(f"{self.url}/api/kernels", timeout=5) as r:
                    for kernel in json.load(r):
                        self.delete(f"/api/kernels/{kernel['id']}")
        except (OSError, ValueError, KeyError) as err:
            print(f"\nshutting down the kernels of {path or 'every session'} failed: {type(err).__name__}: {err}")

    def stop(self) -> None:
        """Shut the kernels down through the API, terminate then kill the server's process group,
        kill any kernel left behind (by its id), and wait until the port is free."""
        if self.proc is None:
            return
        self.remember_kernels()
        if self.proc.poll() is None:
            self.shutdown_kernels()
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        for pid in self.kernels:
            try:
                if _is_kernel(pid):
                    os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 20
        while not _port_is_free(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"port {self.port} is still in use after the server was stopped")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    server = Lab(tmp_path_factory.mktemp("jupyterlab"))
    server.params = server.prepare()
    try:
        server.start()
        print(f"\njupyter lab at {server.url}, root {server.root}, log {server.log}")
        yield server
    finally:
        server.stop()
        print(f"\njupyter lab stopped; port {server.port} is free")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lab-artifacts")
    print(f"\nJupyterLab test artifacts: {folder}")
    return folder


def _keep(path: Path) -> None:
    """Copy an artefact to $EQUALNETS_ARTIFACTS too, if set."""
    extra = os.environ.get("EQUALNETS_ARTIFACTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(extra) / path.name)


@pytest.fixture(autouse=True)
def _watchdog():
    """Fail a test body that stalls for WATCHDOG_S seconds instead of hanging the suite."""
    with stall_watchdog(WATCHDOG_S, "JupyterLab test (a hung kernel, or has the Playwright driver or Chromium died?)"):
        yield


# --- the browser --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser(lab):
    """Chromium with a fresh profile; requests to any other origin than the server's are aborted."""
    remote: set[str] = set()

    def route(r):
        url = r.request.url
        if url.startswith((lab.url, "data:", "blob:")):
            r.continue_()
        else:
            remote.add(url)
            r.abort("internetdisconnected")

    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = chromium.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(TIMEOUT_MS)
        context.route("**/*", route)
        try:
            yield context
        finally:
            context.close()
            chromium.close()
    if remote:
        print("\nrequests to other origins (aborted):\n  " + "\n  ".join(sorted(remote)))


# In the page: the code cells' prompts ("[3]:", "[*]:" while running, "[ ]:" not run), the
# notebook's kernel status, and the text of every error-like output shown.
NOTEBOOK_STATE = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return null;
  const status = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const kernel = panel.querySelector('.jp-KernelName, .jp-Toolbar-kernelName');
  return {
    prompts: [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent.trim()),
    status: status ? status.getAttribute('data-status') : null,
    kernel: kernel ? kernel.textContent.trim() : null,
    errors: [...panel.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
              .map(e => e.textContent).filter(t => /Traceback|Error:|---------------/.test(t)),
    dialogs: [...document.querySelectorAll('.jp-Dialog')].map(e => e.textContent.trim()),
  };
}"""

# Done: the kernel is idle, nothing is running or queued, and all the notebook's code cells
# (the argument: how many) have a number, or the run stopped at an error (JupyterLab then leaves
# the cells below unrun).
RUN_DONE = NOTEBOOK_STATE.replace("() => {", "(cells) => { const s = (() => {", 1) + """)();
  if (!s || s.status !== 'idle' || s.prompts.some(p => p.includes('*'))) return false;
  return s.errors.length > 0 || (s.prompts.length === cells && s.prompts.every(p => /^\\[\\d+\\]:$/.test(p)));
}"""

SAVED = "() => !document.querySelector('.lm-DockPanel-tabBar .lm-TabBar-tab.jp-mod-dirty')"

KERNEL_READY = NOTEBOOK_STATE.replace("() => {", "() => { const s = (() => {", 1) + """)();
  return !!s && ((s.status === 'idle' && !!s.kernel && s.kernel !== 'No Kernel') || s.dialogs.length > 0);
}"""


def _slowest_cells(nb, n: int = 4) -> dict[int, float]:
    """The ``n`` longest code cells, from JupyterLab's recordTiming metadata (cell index: seconds)."""
    from datetime import datetime
    times = {}
    for i, cell in enumerate(nb.cells):
        timing = cell.metadata.get("execution", {})
        start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if start and end:
            times[i] = (datetime.fromisoformat(end.replace("Z", "+00:00")) -
                        datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
    return {i: round(t, 1) for i, t in sorted(times.items(), key=lambda kv: -kv[1])[:n]}


class Notebook:
    """One notebook open in JupyterLab, with what the page logged."""

    def __init__(self, context, lab: Lab, name: str):
        self.lab, self.name = lab, name
        self.path = lab.root / "notebooks" / f"{name}.ipynb"
        self.cells = sum(c.cell_type == "code" for c in nbformat.read(self.path, as_version=4).cells)
        self.page = context.new_page()
        self.console: list[str] = []
        self.page.on("pageerror", lambda exc: self.console.append(f"uncaught exception: {exc}"))
        self.page.on("console", lambda m: self.console.append(f"console.{m.type}: {m.text}")
                     if m.type == "error" else None)
        # a workspace of its own: JupyterLab does not reopen the other test's notebook beside it
        self.page.goto(f"{lab.url}/lab/workspaces/{name}/tree/notebooks/{name}.ipynb", wait_until="load")
        self.page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell", timeout=OPEN_TIMEOUT_MS)
        self.page.wait_for_function(KERNEL_READY, timeout=OPEN_TIMEOUT_MS)
        lab.remember_kernels()
        state = self.state()
        assert not state["dialogs"], f"{name}: JupyterLab asks: {state['dialogs']}"
        assert state["kernel"] == KERNEL_DISPLAY, f"{name} runs on kernel {state['kernel']!r}, not {KERNEL_DISPLAY!r}"

    def state(self) -> dict:
        return self.page.evaluate(NOTEBOOK_STATE)

    def menu(self, top: str, item: str) -> None:
        self.page.click(f".lm-MenuBar-itemLabel:text-is('{top}')")
        self.page.click(f".lm-Menu-itemLabel:text-is('{item}')")

    def run_all(self) -> None:
        """Run > Run All Cells (returns at once; :meth:`finish` waits)."""
        self.started = time.perf_counter()
        self.menu("Run", "Run All Cells")

    def finish(self, timeout_ms: int = RUN_TIMEOUT_MS) -> float:
        """Wait until Run All Cells is done, then File > Save Notebook. Seconds the run took."""
        try:
            self.page.wait_for_function(RUN_DONE, arg=self.cells, timeout=timeout_ms, polling=500)
        except sync_api.TimeoutError:
            raise AssertionError(f"{self.name}: Run All Cells did not finish within {timeout_ms / 1000:.0f} s "
                                 f"(a hung kernel?); prompts {self.state()['prompts']}\nserver log:\n"
                                 f"{self.lab.log_tail()}") from None
        took = time.perf_counter() - self.started
        before = self.path.stat().st_mtime_ns
        self.menu("File", "Save Notebook")
        try:  # the tab loses its "modified" mark once the server has answered the save
            self.page.wait_for_function(SAVED, timeout=SAVE_TIMEOUT_S * 1000, polling=200)
        except sync_api.TimeoutError:
            pass
        deadline = time.monotonic() + 10
        while self.path.stat().st_mtime_ns == before and time.monotonic() < deadline:
            self.page.wait_for_timeout(200)  # not time.sleep: Playwright serves the routed requests meanwhile
        if self.path.stat().st_mtime_ns == before:
            shot = self.lab.base / f"{self.name}-save-failed.png"
            self.page.screenshot(path=str(shot))
            raise AssertionError(f"{self.name}: File > Save Notebook wrote nothing (screenshot {shot}; dialogs "
                                 f"{self.state()['dialogs']})\nserver log:\n{self.lab.log_tail()}")
        return took

    def assert_no_error(self) -> None:
        state = self.state()
        assert not state["errors"], f"{self.name}: cells show errors:\n" + "\n".join(state["errors"])
        assert all(p[1:-2].isdigit() for p in state["prompts"]), f"{self.name}: cells not run: {state['prompts']}"
        saved = nbformat.read(self.path, as_version=4)
        errors = [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for i, c in enumerate(saved.cells)
                  if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{self.name} as saved by JupyterLab has error outputs: {errors}"
        unrun = [i for i, c in enumerate(saved.cells) if c.cell_type == "code" and c.get("execution_count") is None]
        assert not unrun, f"{self.name} as saved: code cells {unrun} did not run"
        print(f"{self.name}: slowest cells (s): {_slowest_cells(saved)}")

    def image(self, widget) -> str:
        """The src (a data: URL) of the first image in ``widget``'s output, once there is one."""
        img = widget.locator(".widget-output img").first
        img.wait_for(state="attached", timeout=TIMEOUT_MS)
        return img.get_attribute("src") or ""

    def wait_new_image(self, widget, old: str) -> str:
        """Wait until ``widget`` shows an image other than ``old`` (the redraw clears, then draws)."""
        handle = widget.element_handle()
        self.page.wait_for_function(
            """([w, old]) => { const i = w.querySelector('.widget-output img');
                               return !!i && !!i.getAttribute('src') && i.getAttribute('src') !== old; }""",
            arg=[handle, old], timeout=TIMEOUT_MS, polling=200)
        return self.image(widget)

    def close(self) -> None:
        """Close the tab and shut its kernel down (the other test's kernel gets the CPUs)."""
        if self.page.is_closed():
            return
        if self.console:
            print(f"\n{self.name}: the page logged:\n  " + "\n  ".join(self.console[:20]))
        self.page.close()
        self.lab.shutdown_kernels(f"notebooks/{self.name}.ipynb")


@pytest.fixture(scope="module")
def running(browser, lab):
    """Both chapters open in tabs of their own, Run All Cells clicked in each: the two kernels run
    side by side (on a 2-core machine that halves the wait), each test then waits for its own."""
    opened: dict[str, Notebook] = {}
    try:
        for name in (PART3, S3):  # the longer one first
            opened[name] = Notebook(browser, lab, name)
            opened[name].run_all()
        yield opened
    finally:
        for nb in opened.values():
            nb.close()


# --- the checks -----------------------------------------------------------------------------

def test_s3_runs_and_its_epoch_explorer_responds(running, lab, artifacts):
    nb = running[S3]
    try:
        took = nb.finish()
        print(f"\n{S3}: Run All Cells with {lab.params[S3]} took {took:.0f} s")
        nb.assert_no_error()

        explorer = nb.page.locator(".widget-interact").filter(has=nb.page.locator(".widget-slider")).first
        explorer.scroll_into_view_if_needed()
        slider = explorer.locator(".widget-slider")
        assert slider.locator(".widget-label").inner_text().strip() == "epoch"
        score = explorer.locator(".widget-dropdown select")
        assert score.input_value() == "consistency"
        assert sorted(score.evaluate("s => [...s.options].map(o => o.value)")) == ["consensus", "consistency"]
        readout = slider.locator(".widget-readout")
        last = readout.inner_text().strip()
        assert last == str(lab.params[S3]["epochs"]), f"the slider starts at epoch {last}, not the last one"
        before = nb.image(explorer)
        assert before.startswith("data:image/png;base64,") and len(before) > 2_000

        shot = artifacts / "lab_s3_explorer_before.png"
        explorer.screenshot(path=str(shot))
        _keep(shot)

        handle = slider.locator(".noUi-handle")
        handle.focus()
        handle.press("ArrowLeft")
        after = nb.wait_new_image(explorer, before)
        moved = readout.inner_text().strip()
        assert moved == str(int(last) - 1), f"the slider reads {moved} after one step left from {last}"
        assert handle.get_attribute("aria-valuetext") == moved
        shot = artifacts / "lab_s3_explorer_after_slider.png"
        explorer.screenshot(path=str(shot))
        _keep(shot)

        score.select_option("consensus")
        consensus = nb.wait_new_image(explorer, after)
        assert consensus not in (before, after)
        shot = artifacts / "lab_s3_explorer_consensus.png"
        explorer.screenshot(path=str(shot))
        _keep(shot)
        shot = artifacts / "lab_s3_notebook.png"
        nb.page.screenshot(path=str(shot))
        _keep(shot)
        print(f"screenshots: {artifacts}/lab_s3_explorer_{{before,after_slider,consensus}}.png")
    finally:
        nb.close()


def test_part3_runs_and_its_explorer_responds(running, lab, artifacts):
    nb = running[PART3]
    try:
        took = nb.finish()
        print(f"\n{PART3}: Run All Cells with {lab.params[PART3]} took {took:.0f} s")
        nb.assert_no_error()
        box = nb.page.locator(".widget-vbox").filter(has=nb.page.locator(".widget-output img")).last
        box.scroll_into_view_if_needed()
        labels = [t.strip() for t in box.locator(".widget-dropdown .widget-label").all_text_contents()]
        assert labels == ["arch", "variant", "layer"], f"{labels}: {box.evaluate('b => b.outerHTML')[:3000]}"
        before = nb.image(box)
        shot = artifacts / "lab_part3_explorer_before.png"
        box.screenshot(path=str(shot))
        _keep(shot)
        variant = box.locator(".widget-dropdown select").nth(1)
        options = variant.evaluate("s => [...s.options].map(o => o.value)")
        assert len(options) >= 2 and variant.input_value() == options[0], options
        variant.select_option(options[-1])
        nb.wait_new_image(box, before)
        shot = artifacts / "lab_part3_explorer_after.png"
        box.screenshot(path=str(shot))
        _keep(shot)
        shot = artifacts / "lab_part3_notebook.png"
        nb.page.screenshot(path=str(shot))
        _keep(shot)
    finally:
        nb.close()


def test_a_hung_kernel_fails_within_a_bounded_time_and_is_shut_down(browser, lab):
    """A notebook whose cell never returns: waiting for Run All Cells fails with the test's own message
    within its timeout (plus the time to read the page's state), instead of hanging; closing it shuts
    the busy kernel down through the server, and its process exits."""
    before = set(_children(lab.proc.pid))
    nb = Notebook(browser, lab, HUNG)
    hung = set(_children(lab.proc.pid)) - before
    assert len(hung) == 1, f"expected one new kernel process, found {sorted(hung)}"
    try:
        nb.run_all()
        started = time.monotonic()
        with pytest.raises(AssertionError, match=rf"{HUNG}: Run All Cells did not finish within "
                                                 rf"{HUNG_TIMEOUT_MS // 1000} s \(a hung kernel\?\)"):
            nb.finish(timeout_ms=HUNG_TIMEOUT_MS)
        waited = time.monotonic() - started
        assert waited < HUNG_TIMEOUT_MS / 1000 + 15, f"failed only after {waited:.0f} s"
        assert "*" in "".join(nb.state()["prompts"]), "the cell should still be running"
    finally:
        nb.close()
    deadline = time.monotonic() + KERNEL_GONE_S
    while any(_is_kernel(pid) for pid in hung):
        assert time.monotonic() < deadline, f"the hung kernel {sorted(hung)} is still running {KERNEL_GONE_S} s after close"
        time.sleep(0.2)
    print(f"\nhung kernel: failed after {waited:.0f} s, its process exited after close")
