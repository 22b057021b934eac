"""The FastAPI app: `POST /v1/solve`, `GET /healthz`, `GET /v1/info`, the page at `/`, docs at `/docs`.

    app = create_app(backend, sandbox, ServeOptions(min_agree=2), model="smollm2-135m")

The app borrows the backend and the sandbox (the caller closes them, see `serve.run`) and owns the
generation queue, whose worker thread it starts and stops with its lifespan.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import re
import time
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse

from ..evaluate.vote import Vote, plausible_vote, vote
from ..thoughts import THOUGHTS, Checker, kind, student_prompt
from .models import (
    ErrorBody,
    Health,
    Info,
    SolveRequest,
    SolveResponse,
    ThoughtResult,
    Timing,
    Verification,
    VerifierResult,
    VoteResult,
)
from .queue import GenerationFailed, GenerationQueue, GenerationTimeout, QueueFull

log = logging.getLogger("mathdistill.serve")

MAX_QUESTION_CHARS = 2_000
MAX_BODY_BYTES = 16 * 1024


@dataclass(frozen=True)
class ServeOptions:
    min_agree: int = 2  # fewer agreeing thoughts than this: abstain
    max_question_chars: int = MAX_QUESTION_CHARS  # longer: 413
    max_body_bytes: int = MAX_BODY_BYTES  # longer request bodies: 413
    timeout: float = 120.0  # seconds from admission to generated texts; past it: 504
    max_pending: int = 16  # requests queued or generating; more: 503 + Retry-After
    max_batch: int = 4  # requests generated together in one backend call
    max_new_tokens: int = 160
    policy: str = "flexible"  # CoT answer extraction
    api_key: str | None = None  # when set, `Authorization: Bearer <key>` on every request but /healthz

    def __post_init__(self) -> None:
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key is empty: give a real key, or None for a loopback server")
        if self.min_agree < 1:
            raise ValueError("min_agree must be >= 1")
        if self.timeout <= 0 or self.max_new_tokens < 1:
            raise ValueError("timeout and max_new_tokens must be positive")


# ---------------------------------------------------------------------------------------------
# Verification: each rationale through its thought's checker (PoT only ever runs in the sandbox)


def check(thought: str, text: str, checker: Checker) -> ThoughtResult:
    checked = kind(thought)
    got = checked.answer(text, checker)
    v = Verification(method=checked.CHECKED_BY, summary=got.work, **got.detail)
    return ThoughtResult(rationale=text, answer=got.answer, failure=got.failure, verification=v)


def _vote_result(v: Vote) -> VoteResult:
    return VoteResult(answer=v.answer, agree=len(v.support), support=list(v.support), voters=v.voters)


def decide(results: dict[str, ThoughtResult], min_agree: int, question: str = "", verifier=None) -> dict:
    """The selected answer (`vote`) and whether to abstain, the plausible and the plain vote: with a
    verifier (`verifier.apply`) its selection and calibrated confidence decide, else the majority and
    the agreement rule."""
    given = {t: r.answer for t, r in results.items()}
    v, p = vote(given), plausible_vote(given)
    out = {"vote": v.answer, "agree": len(v.support), "support": list(v.support), "voters": v.voters,
           "abstain": v.answer is None or len(v.support) < min_agree, "min_agree": min_agree,
           "plausible_vote": _vote_result(p), "majority": _vote_result(v)}
    if verifier is not None and set(results) == set(verifier.meta.get("read", {}).get("thoughts", results)):
        from ..verifier.apply import decide_thoughts

        d = decide_thoughts(verifier, question, [(t, r.rationale, r.answer) for t, r in results.items()])
        out["verifier"] = VerifierResult(answer=d.answer, confidence=d.confidence, abstain=d.abstain,
                                         threshold=d.threshold, support=list(d.agreeing), method=d.method,
                                         scorer=verifier.scorer)
        out.update(vote=d.answer, agree=len(d.agreeing), support=list(d.agreeing), abstain=d.abstain)
    return out


# ---------------------------------------------------------------------------------------------
# Authentication and the body limit, in front of everything (plain ASGI)


def _json_response(status: int, detail: object, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


OPEN_PATHS = ("/healthz", "/")


class Guard:
    """Bearer token on every path but GET /healthz and the page at / (when a key is set); request
    bodies capped at `max_body` bytes (413), whether or not they declare their length."""

    def __init__(self, app, api_key: str | None, max_body: int):
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        # open without the key: the health probe, and the page (static HTML: it holds nothing, and asks the
        # person for the key, which it then sends as the bearer token on every API call)
        if self.api_key is not None and not (scope.get("path") in OPEN_PATHS and scope.get("method") in ("GET", "HEAD")):
            auth = headers.get(b"authorization", b"")
            scheme, _, token = auth.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self.api_key):
                resp = _json_response(401, "missing or wrong API key: send 'Authorization: Bearer <key>'",
                                      {"WWW-Authenticate": 'Bearer realm="mathdistill"'})
                return await resp(scope, receive, send)
        if scope.get("method") in ("POST", "PUT", "PATCH"):
            too_big = _json_response(413, f"request body over the limit of {self.max_body} bytes")
            declared = headers.get(b"content-length")
            if declared is not None:
                try:
                    if int(declared) > self.max_body:
                        return await too_big(scope, receive, send)
                except ValueError:
                    return await _json_response(400, "bad Content-Length")(scope, receive, send)
            chunks, size = [], 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body:
                    return await too_big(scope, receive, send)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body, replayed = b"".join(chunks), False

            async def replay():
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            return await self.app(scope, replay, send)
        return await self.app(scope, receive, send)


# ---------------------------------------------------------------------------------------------
# The page: a static HTML file with inline CSS and JS, served with a strict CSP


def _page() -> tuple[str, str]:
    html = (resources.files(__package__) / "static" / "index.html").read_text(encoding="utf-8")

    def hashes(tag: str) -> str:
        found = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.DOTALL)
        return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in found)

    csp = (f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
           "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
    return html, csp


def create_app(backend, sandbox, options: ServeOptions | None = None, model: str | None = None,
               backend_name: str | None = None, verifier=None) -> FastAPI:
    """The app around a loaded backend (`evaluate.backends.open_backend`) and a started sandbox;
    with a `verifier.Verifier` (of greedy pools: `verifier.apply.load_for_greedy`), answers carry its
    calibrated confidence and abstain by its threshold."""
    options = options or ServeOptions()
    model = model or getattr(backend, "model", "?")
    backend_name = backend_name or getattr(backend, "name", type(backend).__name__)
    queue = GenerationQueue(backend, options.max_new_tokens, options.max_pending, options.max_batch)
    checker = Checker(policy=options.policy, sandbox=sandbox)
    page, csp = _page()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        queue.start()
        log.info("serving %s (%s backend): %s", model, backend_name, json.dumps(asdict(options) | {"api_key": bool(options.api_key)}))
        try:
            yield
        finally:
            queue.stop()

    app = FastAPI(
        title="mathdistill",
        version="1",
        lifespan=lifespan,
        description="A distilled student answers a math word problem three ways (prose, a program run in a "
                    "sandbox, equations solved exactly); the thoughts vote, and the server abstains when too few "
                    "agree.",
        responses={401: {"model": ErrorBody, "description": "API key required (when the server has one)"}},
        docs_url=None if _swagger_assets() else "/docs",
    )
    _serve_docs_offline(app)
    app.state.queue = queue
    app.state.options = options

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return _json_response(400, "the request body is not valid JSON")
        if any(e.get("type") == "model_attributes_type" and tuple(e.get("loc", ())) == ("body",) for e in errors):
            return _json_response(422, "the body must be a JSON object such as {\"question\": \"...\"}, "
                                       "sent with Content-Type: application/json")
        # pydantic's error records can hold the offending input; echo only where, what and why
        return _json_response(422, [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
                                    for e in errors])

    @app.get("/healthz", response_model=Health, responses={503: {"model": Health}}, tags=["service"])
    async def healthz():
        ok = queue.alive
        body = Health(status="ok" if ok else "unavailable", model=model, backend=backend_name, queue=queue.stats())
        return JSONResponse(body.model_dump(), status_code=200 if ok else 503)

    @app.get("/v1/info", response_model=Info, tags=["service"])
    async def info():
        return Info(model=model, backend=backend_name, thoughts=list(THOUGHTS), min_agree=options.min_agree,
                    max_question_chars=options.max_question_chars, max_body_bytes=options.max_body_bytes,
                    timeout_s=options.timeout, max_new_tokens=options.max_new_tokens, cot_policy=options.policy,
                    auth=options.api_key is not None, verifier=_describe(verifier))

    @app.post("/v1/solve", response_model=SolveResponse, tags=["solve"], responses={
        400: {"model": ErrorBody, "description": "not JSON"},
        413: {"model": ErrorBody, "description": "body over 16 KB or question over 2,000 characters (defaults)"},
        422: {"model": ErrorBody, "description": "empty question, unknown thought, missing or extra fields"},
        503: {"model": ErrorBody, "description": "queue full; see Retry-After"},
        504: {"model": ErrorBody, "description": "generation past the time limit"},
    })
    async def solve(req: SolveRequest):
        """Answer one question with each thought, verify each answer, vote, and abstain on weak agreement."""
        t0 = time.monotonic()
        question = req.question.strip()
        if not question:
            raise HTTPException(422, "the question is empty")
        if len(question) > options.max_question_chars:
            raise HTTPException(413, f"the question has {len(question)} characters; the limit is "
                                     f"{options.max_question_chars}")
        thoughts = list(dict.fromkeys(req.thoughts or THOUGHTS))
        try:
            gen = await queue.generate([student_prompt(question, t) for t in thoughts], options.timeout)
        except QueueFull as e:
            raise HTTPException(503, str(e), headers={"Retry-After": str(e.retry_after)}) from None
        except GenerationTimeout as e:
            raise HTTPException(504, str(e)) from None
        except GenerationFailed as e:
            raise HTTPException(500, str(e)) from None
        t1 = time.monotonic()

        def verify() -> tuple[dict[str, ThoughtResult], dict]:
            results = {t: check(t, text, checker) for t, text in zip(thoughts, gen.texts)}
            return results, decide(results, options.min_agree, question, verifier)

        try:
            results, decision = await asyncio.to_thread(verify)
        except Exception as e:
            log.exception("verification failed")
            raise HTTPException(500, f"verification failed: {type(e).__name__}") from None
        t2 = time.monotonic()
        return SolveResponse(
            question=question, model=model, backend=backend_name, thoughts=results, **decision,
            timing=Timing(queued=round(gen.queued_s, 4), generation=round(gen.generate_s, 4), batch=gen.batch_size,
                          verification=round(t2 - t1, 4), total=round(t2 - t0, 4)))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return HTMLResponse(page, headers={"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff",
                                           "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"})

    app.add_middleware(Guard, api_key=options.api_key, max_body=options.max_body_bytes)
    return app


def _describe(verifier) -> str | None:
    if verifier is None:
        return None
    t = (verifier.thresholds.get(verifier.method) or {}).get("threshold")
    return (f"{verifier.scorer} verifier, {verifier.method}, "
            + (f"answers at confidence >= {t:.2f}" if t is not None else "never confident enough to answer"))


def _swagger_assets():
    """Swagger UI's files from the `swagger-ui-bundle` package (the `serve` extra), or None."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    path = Path(str(swagger_ui_path))
    return path if (path / "swagger-ui-bundle.js").is_file() else None


def _serve_docs_offline(app: FastAPI) -> None:
    """`/docs` from Swagger UI files served by this app, so the docs work on a machine with no
    internet (FastAPI's default loads them from a CDN). Without the package FastAPI's own /docs stays."""
    assets = _swagger_assets()
    if assets is None:
        return
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs/assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="mathdistill API",
                                   swagger_js_url="/docs/assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/assets/swagger-ui.css",
                                   swagger_favicon_url="data:,")
