"""A teacher behind any OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp, hosted APIs).

Async with a concurrency limit; retries with exponential backoff (and Retry-After) on 429, 5xx,
timeouts and dropped connections; other HTTP errors fail at once with the server's message.
`n` samples are n requests with seeds seed, seed+1, ... because several servers ignore `n`.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass

import httpx

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

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._semaphore: asyncio.Semaphore | None = None
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> "OpenAICompatTeacher":
        key = os.environ.get(self.api_key_env, "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(self.timeout, connect=30.0))
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
        async with self._semaphore:
            for attempt in range(self.max_retries + 1):
                start = time.perf_counter()
                try:
                    r = await self._client.post(f"{self.base_url}/chat/completions", json=body)
                except (httpx.TimeoutException, httpx.TransportError) as e:
                    if attempt == self.max_retries:
                        raise TeacherError(f"{self.base_url}: {e.__class__.__name__}: {e}") from None
                    await asyncio.sleep(_backoff(attempt))
                    continue
                if r.status_code in RETRY_STATUS and attempt < self.max_retries:
                    await asyncio.sleep(_retry_after(r) or _backoff(attempt))
                    continue
                if r.status_code != 200:
                    raise TeacherError(f"{self.base_url}: HTTP {r.status_code}: {r.text[:300]}")
                data = r.json()
                try:
                    choice = data["choices"][0]
                    text = choice["message"]["content"] or ""
                except (KeyError, IndexError, TypeError):
                    raise TeacherError(f"{self.base_url}: unexpected response {str(data)[:300]}") from None
                usage = data.get("usage") or {}
                return Completion(text, usage.get("completion_tokens"), time.perf_counter() - start,
                                  choice.get("finish_reason"))
        raise TeacherError("unreachable")  # pragma: no cover


def _backoff(attempt: int) -> float:
    return min(60.0, 0.5 * 2 ** attempt) * (0.5 + random.random())


def _retry_after(r: httpx.Response) -> float | None:
    try:
        return min(120.0, float(r.headers.get("retry-after", "")))
    except ValueError:
        return None
