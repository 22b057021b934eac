"""`mathdistill serve MODEL`: the student behind an HTTP API and a web page.

    POST /v1/solve  {"question": "...", "thoughts": ["cot", "pot", "eot"]?}
                    -> per thought the rationale, its answer and the verification (the program and its
                       output from the sandbox, the solved equations, the CoT extraction rule), the vote,
                       how many thoughts agree, whether the server abstains, and the plausible vote
    GET  /healthz   -> 200 when the model is loaded and the generation worker runs
    GET  /          -> the page (static HTML, inline CSS/JS); GET /docs -> OpenAPI docs

One backend (`evaluate.backends`) is loaded and one sandbox pool started for the server's life;
generation runs on a single worker thread behind a bounded queue (`serve.queue`), verification in
a thread pool, so the event loop never blocks. See `serve.app.ServeOptions` for the limits.

Binds 127.0.0.1 by default. Any other address needs `api_key` (a bearer token checked on every
request but /healthz) or an explicit `no_auth`; `check_bind` refuses otherwise.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable

from .app import MAX_BODY_BYTES, MAX_QUESTION_CHARS, ServeOptions, create_app

__all__ = ["MAX_BODY_BYTES", "MAX_QUESTION_CHARS", "ServeOptions", "check_bind", "create_app", "is_loopback", "run"]


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, api_key: str | None, no_auth: bool) -> None:
    """Refuse (ValueError) to serve beyond this machine without a decision about authentication."""
    if api_key is not None and no_auth:
        raise ValueError("--api-key-env and --no-auth contradict each other; pass one")
    if not is_loopback(host) and api_key is None and not no_auth:
        raise ValueError(f"refusing to serve on {host} without authentication: pass --api-key-env NAME (clients "
                         "send 'Authorization: Bearer <the value of $NAME>') or, deliberately, --no-auth")


def run(model: str, host: str = "127.0.0.1", port: int = 8000, backend: str = "transformers",
        backend_options: dict | None = None, options: ServeOptions | None = None, no_auth: bool = False,
        sandbox_workers: int | None = None, say: Callable[[str], None] = print, verifier=None) -> None:
    """Load the model, start the sandbox, then listen (so the port answers only once ready)."""
    import uvicorn

    from ..evaluate.backends import open_backend
    from ..sandbox import Sandbox

    options = options or ServeOptions()
    check_bind(host, options.api_key, no_auth)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    say(f"loading {model} ({backend} backend) ...")
    be = open_backend(backend, model, **(backend_options or {}))
    try:
        be.generate(["Question: What is 1 + 1?\nLet's think step by step.\n"], 2)  # warm-up: the first call is slow
        with Sandbox(workers=sandbox_workers) as sandbox:
            app = create_app(be, sandbox, options, model=model, backend_name=backend, verifier=verifier)
            auth = "bearer token" if options.api_key else "none"
            say(f"serving on http://{host if ':' not in host else f'[{host}]'}:{port}/ (auth: {auth}; docs at /docs)")
            uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5)
    finally:
        be.close()
