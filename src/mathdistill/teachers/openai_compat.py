"""A teacher behind any OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp, hosted APIs).

Async with a concurrency limit; retries with exponential backoff (and Retry-After) on 429, 5xx,
timeouts and dropped connections; other HTTP errors fail at once with the server's message.
`n` samples are n requests with seeds seed, seed+1, ... because several servers ignore `n`.

A server that cannot be reached at all (connection refused, unknown host, connect timeout) fails
fast: after `connect_retries` quick retries, with a one-line `TeacherError` naming the URL and how
to check it (`curl URL/models`), not after the whole backoff schedule. Once the server has answered
a request, connection errors are retried with the full backoff (a server restarting mid-run).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class TeacherError(RuntimeError):
    """The teacher could not produce a completion; the message says what the server said."""


@dataclass(frozen=True)
class Completion:
    text: str
    tokens: int | None  # completion tokens, when the server reports usage
    seconds: float
    finish_reason: str | None


@dataclass
class OpenAICompatTeacher:
    base_url: str  # e.g. http://127.0.0.1:8000/v1
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 4
    max_retries: int = 6
    timeout: float = 300.0
    max_tokens: int = 400
    temperature: float = 0.0
    seed: int | None = 0
    stop: tuple[str, ...] = ()
    connect_timeout: float = 5.0  # seconds to open a connection
    connect_retries: int = 2  # retries while the server has never answered (then: unreachable)

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._semaphore: asyncio.Semaphore | None = None
        self._client = None  # httpx.AsyncClient while open
        self._reached = False  # the server has answered at least once

    async def __aenter__(self) -> "OpenAICompatTeacher":
        import httpx  # here, not at module level: the CLI imports TeacherError and should start fast

        if not self.base_url.startswith(("http://", "https://")):
            raise TeacherError(f"teacher URL {self.base_url!r} must start with http:// or https:// "
                               f"(e.g. http://localhost:8000/v1)")
        key = os.environ.get(self.api_key_env, "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.AsyncClient(headers=headers,
                                         timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout))
        self._semaphore = asyncio.Semaphore(self.concurrency)
        return self

    async def __aexit__(self, *exc) -> None:
        if self._client:
            await self._client.aclose()

    async def complete(self, messages: list[dict], sample: int = 0) -> Completion:
        """One completion; `sample` offsets the seed so samples differ reproducibly."""
        assert self._client is not None and self._semaphore is not None, "use 'async with teacher:'"
        body = {"model": self.model, "messages": messages, "max_tokens": self.max_tokens,
                "temperature": self.temperature}
        if self.seed is not None:
            body["seed"] = self.seed + sample
        if self.stop:
            body["stop"] = list(self.stop)
        data, seconds = await self.post("/chat/completions", body)
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise TeacherError(f"{self.base_url}: unexpected response {str(data)[:300]}") from None
        usage = data.get("usage") or {}
        return Completion(text, usage.get("completion_tokens"), seconds, choice.get("finish_reason"))

    async def post(self, path: str, body: dict) -> tuple[dict, float]:
        """POST `body` to base_url + `path` under the concurrency limit and the retry policy above;
        the JSON answer and the seconds the request that succeeded took. (`complete` posts to
        /chat/completions; the OpenAI-compatible generation backend to /completions.)"""
        assert self._client is not None and self._semaphore is not None, "use 'async with teacher:'"
        import httpx

        async with self._semaphore:
            unreachable = 0  # connection failures before the server ever answered
            for attempt in range(self.max_retries + 1):
                start = time.perf_counter()
                try:
                    r = await self._client.post(f"{self.base_url}{path}", json=body)
                except (httpx.UnsupportedProtocol, httpx.InvalidURL) as e:
                    raise TeacherError(f"teacher URL {self.base_url!r}: {_one_line(e)}") from None
                except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                    if not self._reached:
                        unreachable += 1
                        if unreachable > self.connect_retries:
                            raise TeacherError(self._unreachable(e, unreachable)) from None
                        await asyncio.sleep(0.5 * unreachable)
                        continue
                    if attempt == self.max_retries:
                        raise TeacherError(f"{self.base_url}: {e.__class__.__name__}: {_one_line(e)} "
                                           f"after {attempt + 1} attempts") from None
                    await asyncio.sleep(_backoff(attempt))
                    continue
                except (httpx.TimeoutException, httpx.TransportError) as e:
                    if attempt == self.max_retries:
                        raise TeacherError(f"{self.base_url}: {e.__class__.__name__}: {_one_line(e)} "
                                           f"after {attempt + 1} attempts") from None
                    await asyncio.sleep(_backoff(attempt))
                    continue
                self._reached = True
                if r.status_code in RETRY_STATUS and attempt < self.max_retries:
                    await asyncio.sleep(_retry_after(r) or _backoff(attempt))
                    continue
                if r.status_code != 200:
                    hint = (f" (is {self.base_url} the API root, usually ending in /v1? "
                            f"`curl {self.base_url}/models` lists the models there)") if r.status_code == 404 else ""
                    raise TeacherError(f"{self.base_url}: HTTP {r.status_code}: {_one_line(r.text[:300])}{hint}")
                try:
                    return r.json(), time.perf_counter() - start
                except ValueError:
                    raise TeacherError(f"{self.base_url}: response is not JSON: {_one_line(r.text[:300])}") from None
        raise TeacherError("unreachable")  # pragma: no cover

    def _unreachable(self, e: Exception, attempts: int) -> str:
        return (f"cannot connect to the teacher at {self.base_url} ({e.__class__.__name__}: {_one_line(e)}; "
                f"{attempts} attempts): is the server running and the URL right? "
                f"Check with: curl {self.base_url}/models")


def _one_line(e: object) -> str:
    return " ".join(str(e).split()) or e.__class__.__name__


def _backoff(attempt: int) -> float:
    return min(60.0, 0.5 * 2 ** attempt) * (0.5 + random.random())


def _retry_after(r) -> float | None:  # an httpx.Response
    try:
        return min(120.0, float(r.headers.get("retry-after", "")))
    except ValueError:
        return None
