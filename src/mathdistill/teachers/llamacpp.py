"""A real local teacher: starts llama.cpp's OpenAI-compatible server (llama-cpp-python) on
127.0.0.1 with a GGUF from the model registry, waits until it answers, and talks to it through
`OpenAICompatTeacher`. The server keeps the evaluated prompt and reuses its longest common prefix
for the next request, so a fixed few-shot prefix is processed once per thought, not per problem.

llama-cpp-python must be built without AMX on CPUs that have it (see the Makefile's
LLAMA_CMAKE_ARGS): the native build segfaults on the first decode there.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .openai_compat import TeacherError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaCppServer:
    """`with LlamaCppServer(gguf) as server: server.base_url` -> http://127.0.0.1:PORT/v1"""

    def __init__(self, model_path: Path | str, n_ctx: int = 4096, n_threads: int | None = None,
                 log_path: Path | str | None = None, startup_timeout: float = 180.0):
        self.model_path = Path(model_path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.port = free_port()
        self.log_path = Path(log_path) if log_path else None
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen | None = None
        self._log = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "LlamaCppServer":
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            raise TeacherError("llama-cpp-python is not installed: run `make llamacpp` "
                               "(builds it with the CPU flags this project needs)") from None
        if not self.model_path.is_file():
            raise TeacherError(f"GGUF model not found: {self.model_path}")
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path), "--host", "127.0.0.1",
               "--port", str(self.port), "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads),
               "--n_threads_batch", str(self.n_threads)]
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "ab")
        self._proc = subprocess.Popen(cmd, stdout=self._log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise TeacherError(f"llama.cpp server exited with code {self._proc.returncode} while starting"
                                   + (f"; see {self.log_path}" if self.log_path else ""))
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise TeacherError(f"llama.cpp server did not answer within {self.startup_timeout:.0f} s")

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._log:
            self._log.close()
            self._log = None

    def __enter__(self) -> "LlamaCppServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
