"""The OpenAI-compatible backend: a student served by vLLM, llama.cpp's server, Ollama, a hosted API.

    backend = OpenAICompatBackend("smollm2-etd", base_url="http://127.0.0.1:8000/v1")
    texts = backend.generate(prompts, max_new_tokens=160)

Each prompt is one request to the **completions** endpoint (`/v1/completions`, not chat: the
student was trained on the plain prompt, no chat template), `temperature` 0 (or the one asked
for, with each prompt's `seed`: servers that honour it repeat a sample), `max_tokens` =
max_new_tokens; outputs are `choices[0].text`, stripped, as the other backends return them. The
client, its concurrency limit, retries with backoff on 429/5xx/timeouts and the fast failure on an
unreachable server are the teacher's (`teachers.openai_compat.OpenAICompatTeacher.post`). `model` is
the name the server knows the student by; the API key is read from the environment variable
`api_key_env` (none is sent when it is unset).

`extra_body` is merged into every request, for server-specific sampling fields: llama-cpp-python's
server applies `repeat_penalty` 1.1 unless told otherwise, so match the other backends' plain greedy
decoding with `extra_body={"repeat_penalty": 1.0}` there (vLLM: `repetition_penalty`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from ...teachers.openai_compat import OpenAICompatTeacher, TeacherError
from .sampling import check_temperature


class OpenAICompatBackend:
    """Any server with an OpenAI-compatible /v1/completions endpoint."""

    name = "openai"

    def __init__(self, model: str, base_url: str = "http://127.0.0.1:8000/v1", api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 8, timeout: float = 300.0, extra_body: dict | None = None):
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1; got {concurrency}")
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.timeout = timeout
        self.extra_body = dict(extra_body or {})

    def _client(self, max_new_tokens: int) -> OpenAICompatTeacher:
        return OpenAICompatTeacher(self.base_url, self.model, api_key_env=self.api_key_env,
                                   concurrency=self.concurrency, timeout=self.timeout, max_tokens=max_new_tokens,
                                   temperature=0.0, seed=None)

    async def agenerate(self, prompts: Sequence[str], max_new_tokens: int,
                        progress: Callable[[int], None] | None = None, *, temperature: float = 0.0,
                        seeds: Sequence[int] | None = None) -> list[str]:
        """`generate` for callers already in an event loop."""
        check_temperature(temperature)
        if seeds is not None and len(seeds) != len(prompts):
            raise ValueError(f"seeds: expected one per prompt ({len(prompts)}), got {len(seeds)}")
        async with self._client(max_new_tokens) as client:
            async def one(i: int, prompt: str) -> str:
                body = {"model": self.model, "prompt": prompt, "max_tokens": max_new_tokens,
                        "temperature": float(temperature), **self.extra_body}
                if temperature > 0:
                    body["seed"] = int(seeds[i]) if seeds is not None else i
                data, _ = await client.post("/completions", body)
                try:
                    text = data["choices"][0]["text"] or ""
                except (KeyError, IndexError, TypeError):
                    raise TeacherError(f"{self.base_url}/completions: unexpected response {str(data)[:300]} "
                                       "(does the server offer the completions endpoint, not only chat?)") from None
                if progress:
                    progress(1)
                return text.strip()

            return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts))))

    def generate(self, prompts: Sequence[str], max_new_tokens: int, progress: Callable[[int], None] | None = None,
                 *, temperature: float = 0.0, seeds: Sequence[int] | None = None) -> list[str]:
        """Completions of `prompts`, in input order, `concurrency` requests in flight: greedy at
        temperature 0, else sampled at `temperature` with "seed" seeds[i] (default i) for prompt i."""
        if not prompts:
            return []
        coro = self.agenerate(prompts, max_new_tokens, progress, temperature=temperature, seeds=seeds)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coro)
        with ThreadPoolExecutor(1) as pool:  # called from inside an event loop (a server): run beside it
            return pool.submit(asyncio.run, coro).result()

    def close(self) -> None:
        pass
