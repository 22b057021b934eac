"""The page at `/` in a real browser: headless Chromium (Debian's `chromium`, `make chromium`) driven
over the Chrome DevTools protocol (`--remote-debugging-pipe`: JSON messages on fds 3/4, no extra
packages). A person's steps: pick an example, press Solve, read the verified answer and the three
thoughts; the same on a phone-sized screen.

Run as a script, it screenshots the page with a real model's answer:

    python tests/test_serve_browser.py smollm2-135m --out results/serve/page.png
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("MATHDISTILL_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--hide-scrollbars", "--mute-audio"]


class CDPError(RuntimeError):
    pass


class Browser:
    """Headless Chromium with one page, spoken to over the DevTools pipe."""

    def __init__(self, user_data_dir: str, timeout: float = 60.0):
        self.timeout = timeout
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # the child's ends above fd 9, so moving them to 3 and 4 cannot overwrite one with the other
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome_r, from_chrome_w)]
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        to_chrome_r, from_chrome_w = high

        def fds():  # the child's fd 3 reads our commands, its fd 4 writes the replies
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={user_data_dir}", "--remote-debugging-pipe", "about:blank"],
            preexec_fn=fds, pass_fds=(3, 4),  # noqa: PLW1509 - fds() only calls dup2, safe after fork stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._next = 0
        self.events: list[dict] = []
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                self.call(f"{domain}.enable", session=True)
        except BaseException:
            self.close()
            raise

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError("no answer from chromium in time")
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise CDPError("chromium closed the pipe")
                self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, session: bool = False, **params) -> dict:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def js(self, expression: str):
        r = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise CDPError(f"{expression[:60]}: {r['exceptionDetails'].get('text')}")
        return r["result"].get("value")

    def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=2 if mobile else 1, mobile=mobile)

    def open(self, url: str) -> None:
        self.call("Page.navigate", session=True, url=url)
        self.wait("document.readyState === 'complete' && !!document.getElementById('solve')", 30)

    def wait(self, condition: str, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(condition)
            if value:
                return value
            time.sleep(0.1)
        raise CDPError(f"waited {timeout:g} s for {condition}")

    def screenshot(self, path: Path) -> None:
        height = self.js("Math.ceil(document.documentElement.scrollHeight)")
        width = self.js("window.innerWidth")
        png = self.call("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True,
                        clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(png))

    def page_errors(self) -> list[str]:
        errors = []
        for e in self.events:
            if e.get("method") == "Runtime.exceptionThrown":
                errors.append(json.dumps(e["params"]["exceptionDetails"])[:300])
            if e.get("method") == "Log.entryAdded" and e["params"]["entry"]["source"] in ("javascript", "security"):
                errors.append(e["params"]["entry"]["text"])
        return errors

    def close(self) -> None:
        if self.proc.poll() is None:
            self.timeout = 10
            try:
                self.call("Browser.close")
            except (CDPError, OSError):
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass


def solve_example(browser: Browser, base: str, example: int = 1, timeout: float = 120) -> dict:
    """Open the page, pick SVAMP example `example`, press Solve, wait for the verdict."""
    browser.open(base + "/")
    browser.js(f"""(() => {{ const s = document.getElementById('example'); s.selectedIndex = {example};
                   s.dispatchEvent(new Event('change', {{bubbles: true}}));
                   document.getElementById('solve').click(); }})()""")
    browser.wait("['done', 'error'].includes(document.getElementById('verdict').dataset.state)", timeout)
    return browser.js("""(() => { const $ = (id) => document.getElementById(id);
        const card = (t) => ({hidden: $('t-' + t).hidden, text: $('t-' + t).innerText});
        return {state: $('verdict').dataset.state, cls: $('verdict').className, title: $('verdict-title').innerText,
                answer: $('answer').innerText, agreement: $('agreement').innerText, status: $('status').innerText,
                question: $('question').value, pot: card('pot'), eot: card('eot'), cot: card('cot')}; })()""")


# ---------------------------------------------------------------------------------------------
# the test: the real app on uvicorn, fixed texts from a fake backend, the real sandbox

needs_chromium = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                                    reason=f"{CHROMIUM} is absent: `make chromium` installs Debian's chromium")


@pytest.fixture
def browser(tmp_path):
    try:
        b = Browser(str(tmp_path / "profile"))
    except (CDPError, OSError) as e:  # the machine's chromium cannot start here: not the page's fault
        pytest.skip(f"{CHROMIUM} did not start headless: {e}")
    try:
        yield b
    finally:
        b.close()


@pytest.mark.slow  # a real browser and a real server (~10 s)
@needs_chromium
def test_page_shows_a_verified_answer(browser, tmp_path):
    pytest.importorskip("fastapi", reason="the serve extra (fastapi, uvicorn) is not installed")
    from test_serve import FakeBackend, live_server

    from mathdistill.sandbox import Sandbox
    from mathdistill.serve import ServeOptions, create_app

    # SVAMP chal-24 (example 2 on the page): 5 - 4 birds; PoT and EoT right, CoT wrong.
    texts = {"pot": "joined = 4\ntotal = 5\nans = total - joined\nprint(ans)",
             "eot": "start + joined = total\njoined = 4\ntotal = 5\nans = start",
             "cot": "4 birds came and now there are 5, so 5 + 4 = 9. The answer is 9."}
    with Sandbox(workers=1) as sandbox:
        app = create_app(FakeBackend(texts), sandbox, ServeOptions())
        with live_server(app) as base:
            browser.viewport(1280, 900)
            seen = solve_example(browser, base, example=2)
            assert seen["state"] == "done", seen
            assert "birds" in seen["question"]
            assert seen["title"] == "Verified answer" and seen["answer"] == "1" and seen["cls"] == "verified"
            assert "2 of 3 thoughts agree (equations, program)" in seen["agreement"]
            assert "joined = 4" in seen["pot"]["text"] and "answer: 1" in seen["pot"]["text"]
            assert "start = 1" in seen["eot"]["text"]  # the solved system
            assert "answer: 9" in seen["cot"]["text"] and "disagrees" in seen["cot"]["text"]
            assert browser.js("document.querySelector('#t-pot').classList.contains('agrees')")
            browser.screenshot(tmp_path / "laptop.png")
            assert (tmp_path / "laptop.png").stat().st_size > 10_000

            # a phone: one column, nothing wider than the screen
            browser.viewport(390, 844, mobile=True)
            seen = solve_example(browser, base, example=2)
            assert seen["state"] == "done" and seen["answer"] == "1"
            assert browser.js("document.documentElement.scrollWidth <= window.innerWidth")
            assert browser.js("document.getElementById('t-eot').offsetTop > document.getElementById('t-pot').offsetTop")
            browser.screenshot(tmp_path / "phone.png")

            # disagreement: the page says it abstains; an empty question is refused in the page
            browser.viewport(1280, 900)
            app.state.queue.backend.texts = {"pot": "ans = 2", "eot": "ans = 3", "cot": "The answer is 4."}
            seen = solve_example(browser, base, example=3)
            assert seen["cls"] == "abstain" and "do not agree" in seen["title"] and "1 of 3" in seen["agreement"]
            browser.js("document.getElementById('question').value = ''; document.getElementById('solve').click()")
            assert "Type a problem" in browser.js("document.getElementById('status').innerText")
    assert browser.page_errors() == []  # no script errors, no CSP violations


@pytest.mark.slow
@needs_chromium
def test_page_with_an_api_key_and_a_verifier(browser, tmp_path):
    """A classroom server: the page opens without the key, asks for it, then answers with the
    verifier's confidence; a wrong key is told apart from a refused question."""
    pytest.importorskip("fastapi", reason="the serve extra (fastapi, uvicorn) is not installed")
    from test_serve import RIGHT, FakeBackend, greedy_verifier, live_server

    from mathdistill.sandbox import Sandbox
    from mathdistill.serve import ServeOptions, create_app

    with Sandbox(workers=1) as sandbox:
        app = create_app(FakeBackend(RIGHT), sandbox, ServeOptions(api_key="class-key-42"),
                         verifier=greedy_verifier(0.5))
        with live_server(app) as base:
            browser.viewport(1280, 900)
            seen = solve_example(browser, base, example=1)
            assert seen["state"] == "error" and "access key" in seen["agreement"], seen
            assert not browser.js("document.getElementById('keybox').hidden")
            browser.js("""(() => { const k = document.getElementById('key'); k.value = 'class-key-42';
                           k.dispatchEvent(new Event('input', {bubbles: true})); })()""")
            seen = solve_example(browser, base, example=1)  # the key stays in the tab across the reload
            assert seen["state"] == "done" and seen["title"] == "Verified answer" and seen["answer"] == "7", seen
            assert "The verifier's confidence: 100% (it answers from 50%)" in seen["agreement"]
            assert "A verifier decides" in browser.js("document.getElementById('model').innerText")
            browser.screenshot(tmp_path / "key.png")
    assert browser.page_errors() == []


# ---------------------------------------------------------------------------------------------
# the script: a screenshot of the page with a real model's answer (results/serve/page.png)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="model for `mathdistill serve`, or the URL of a running server on this machine")
    ap.add_argument("--out", type=Path, default=Path("results/serve/page.png"))
    ap.add_argument("--example", type=int, default=1, help="which example of the page (1-6)")
    ap.add_argument("--question", help="a question instead of an example")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--serve-arg", action="append", default=[], help="extra argument for `mathdistill serve`")
    args = ap.parse_args()
    import socket
    import urllib.request

    if args.model.startswith(("http://127.", "http://localhost")):
        srv, base = None, args.model.rstrip("/")
    else:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        exe = Path(sys.executable).with_name("mathdistill")
        srv = subprocess.Popen([str(exe), "serve", args.model, "--port", str(port), *args.serve_arg])
        base = f"http://127.0.0.1:{port}"
    profile = tempfile.mkdtemp(prefix="mathdistill-chromium-")
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                if srv is not None and srv.poll() is not None:
                    sys.exit(f"the server exited with {srv.returncode}")
                time.sleep(1)
        browser = Browser(profile, timeout=300)
        try:
            browser.viewport(args.width, 900)
            if args.question:
                from urllib.parse import quote

                browser.open(base + "/?q=" + quote(args.question))
                browser.wait("['done', 'error'].includes(document.getElementById('verdict').dataset.state)", 300)
            else:
                solve_example(browser, base, args.example, timeout=300)
            seen = browser.js("document.getElementById('verdict').innerText")
            browser.screenshot(args.out)
            print(json.dumps({"out": str(args.out), "verdict": seen, "errors": browser.page_errors()}, indent=1))
        finally:
            browser.close()
    finally:
        if srv is not None:
            srv.terminate()
            srv.wait(30)
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
