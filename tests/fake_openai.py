"""A stand-in OpenAI-compatible server for tests of the client and the generate job's resume
logic (the real-model path is tested against a real llama.cpp server in test_llamacpp.py)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JSONHandler(BaseHTTPRequestHandler):
    """A quiet request handler that answers JSON (shared by the test servers)."""

    def log_message(self, *args):
        pass

    def _send(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeOpenAI:
    """`hold_after=N`: answer N requests, then hold every further one until `release()` (or exit), so a
    test can stop a client at a known point instead of racing it."""

    def __init__(self, delay: float = 0.0, fail_first: int = 0, status: int = 503, hold_after: int | None = None):
        self.delay, self.fail_first, self.status, self.hold_after = delay, fail_first, status, hold_after
        self.requests: list[dict] = []
        self.answered = 0
        self._lock = threading.Lock()
        self._released = threading.Event()
        outer = self

        class Handler(JSONHandler):
            def do_GET(self):
                self._send(200, {"data": [{"id": "fake"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer._lock:
                    outer.requests.append(body)
                    n = len(outer.requests)
                if n <= outer.fail_first:
                    self._send(outer.status, {"error": "busy"})
                    return
                with outer._lock:
                    held = outer.hold_after is not None and outer.answered >= outer.hold_after
                    outer.answered += not held
                if held:
                    outer._released.wait()
                time.sleep(outer.delay)
                question = body["messages"][-1]["content"]
                self._send(200, {"choices": [{"message": {"content": f"ans = 1  # {question[:20]}"},
                                              "finish_reason": "stop"}],
                                 "usage": {"completion_tokens": 7}})


        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def release(self) -> None:
        self.hold_after = None
        self._released.set()

    def __exit__(self, *exc):
        self.release()
        self.server.shutdown()
        self.server.server_close()
