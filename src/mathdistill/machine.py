"""What the machine is: the CPU model, the features that decide training speed, cores and threads,
and the precision a job chose. Every result records it (`describe()`, a small dict for JSON).

Why it matters: bf16 autocast is fast only on CPUs with AMX or avx512_bf16. Elsewhere (an AVX2-only
AMD EPYC, say) the same bf16 training runs several times slower than fp32, and fp32 there is
~60 tokens/s for SmolLM2-135M against ~298 with bf16 on an AMX machine: a 5x gap that decides how
big a run fits in a time budget (`mathdistill demo` sizes itself from it).

Pretending to be a smaller machine: `MATHDISTILL_CPU_FEATURES=avx2,fma` limits the features this
project uses to those listed (an intersection with the real ones, so it can only remove features):
bf16 then defaults to off everywhere, and results say "AVX2 only" with `features_limited_to`.
It does not slow torch's kernels down; for that, also limit the libraries' instruction sets before
Python starts (`AVX2_ENV`; measured here: fp32 matmul through MKL drops from AVX-512 to AVX2 code and
bf16 matmul to 0.5 GFLOP/s, as on an AVX2 machine). Results record those variables too.

    python -m mathdistill.machine          # this machine as JSON
"""

from __future__ import annotations

import json
import os
import platform
import sys
from functools import lru_cache
from pathlib import Path

# the features that matter for training speed, in /proc/cpuinfo's spelling
FEATURES = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2", "fma")
LIMIT_ENV = "MATHDISTILL_CPU_FEATURES"
# instruction-set limits of the libraries torch uses (read once, when torch loads)
ISA_ENV = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "DNNL_MAX_CPU_ISA")
AVX2_ENV = {LIMIT_ENV: "avx2,fma", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
            "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


@lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """(model name, flags) of the first CPU in /proc/cpuinfo; ("", {}) where there is none."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "", frozenset()
    model, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:  # x86: flags; ARM: Features
            flags = frozenset(value.split())
        if model and flags:
            break
    return model, flags


def cpu_model() -> str:
    return _cpuinfo()[0] or platform.processor() or platform.machine() or "unknown"


def feature_limit() -> frozenset[str] | None:
    """The features `MATHDISTILL_CPU_FEATURES` allows (None: no limit)."""
    raw = os.environ.get(LIMIT_ENV, "").strip()
    if not raw:
        return None
    return frozenset(f.strip().lower() for f in raw.replace(" ", ",").split(",") if f.strip())


def cpu_features() -> dict[str, bool]:
    """Each feature of `FEATURES`: present on this CPU (and allowed by `MATHDISTILL_CPU_FEATURES`)."""
    flags = _cpuinfo()[1]
    allowed = feature_limit()
    return {f: f in flags and (allowed is None or f in allowed) for f in FEATURES}


def bf16_fast(features: dict[str, bool] | None = None) -> bool:
    """True where bf16 autocast beats fp32 on the CPU: AMX or avx512_bf16."""
    f = cpu_features() if features is None else features
    return bool(f.get("amx_bf16") or f.get("avx512_bf16"))


def cpu_class(features: dict[str, bool] | None = None) -> str:
    """A short name for what decides training speed: 'AMX', 'avx512_bf16', 'AVX-512 without bf16',
    'AVX2 only' or 'no AVX2'."""
    f = cpu_features() if features is None else features
    if f.get("amx_bf16"):
        return "AMX"
    if f.get("avx512_bf16"):
        return "avx512_bf16"
    if f.get("avx512f"):
        return "AVX-512 without bf16"
    return "AVX2 only" if f.get("avx2") else "no AVX2"


def precision(bf16: bool) -> str:
    return "bf16 autocast" if bf16 else "fp32"


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def describe(bf16: bool | None = None) -> dict:
    """This machine as a small JSON-ready dict; `bf16` is the precision the job chose (None: no model
    ran, e.g. a regrade). Torch's details appear only when torch is already loaded."""
    features = cpu_features()
    out: dict = {"cpu": cpu_model(), "arch": platform.machine(), "class": cpu_class(features),
                 "features": features, "bf16_fast": bf16_fast(features),
                 "cpus": os.cpu_count(), "usable_cpus": usable_cpus()}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = torch.__version__
        out["torch_threads"] = torch.get_num_threads()
        try:
            out["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        except AttributeError:
            pass
        if torch.cuda.is_available():
            out["gpu"] = torch.cuda.get_device_name(0)
    if bf16 is not None:
        out["precision"] = precision(bf16)
    limit = feature_limit()
    if limit is not None:
        out["features_limited_to"] = sorted(limit)
    isa = {k: os.environ[k] for k in ISA_ENV if os.environ.get(k)}
    if isa:
        out["isa_limits"] = isa
    if hasattr(os, "getloadavg"):
        out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return out


def summary(info: dict | None = None) -> str:
    """One line for people: 'Intel(R) Xeon(R) Processor, AMX, 2 threads, bf16 autocast'."""
    d = info or describe()
    parts = [d["cpu"], d["class"] + (" (features limited)" if "features_limited_to" in d else "")]
    threads = d.get("torch_threads", d.get("usable_cpus"))
    parts.append(f"{threads} thread{'s' if threads != 1 else ''}")
    if "precision" in d:
        parts.append(d["precision"])
    return ", ".join(str(p) for p in parts)


if __name__ == "__main__":
    print(json.dumps(describe(), indent=2))
