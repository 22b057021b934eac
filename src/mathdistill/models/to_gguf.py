"""HF checkpoint -> GGUF through llama.cpp's own tools, and a GGUF's tokenizer alone.

`convert_checkpoint` runs `convert_hf_to_gguf.py` from the llama-cpp-python source distribution
(downloaded once into the cache, `llama_cpp_source`) with this interpreter; `quantize` calls
`llama_model_quantize` from the bindings; `gguf_for(model)` gives a cached f16 GGUF of anything
`resolve_hf` accepts. Used by `mathdistill export` and the llama.cpp generation backend.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from . import cache as model_cache
from .cache import models_dir
from .convert import resolve_hf
from .registry import REGISTRY, ModelError

LLAMA_CPP_VERSION = "0.3.36"  # the pinned llama-cpp-python (Makefile LLAMA_VERSION)
GGUF_MAGIC = b"GGUF"
FLOAT_TYPES = ("f32", "f16", "bf16")  # written by the converter itself
# quantised types, made from an f32 conversion by llama_model_quantize (names as llama-quantize)
QUANT_FTYPES = {
    "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K",
    "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M", "q5_k_s": "LLAMA_FTYPE_MOSTLY_Q5_K_S",
    "q5_0": "LLAMA_FTYPE_MOSTLY_Q5_0", "q5_1": "LLAMA_FTYPE_MOSTLY_Q5_1",
    "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M", "q4_k_s": "LLAMA_FTYPE_MOSTLY_Q4_K_S",
    "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0", "q4_1": "LLAMA_FTYPE_MOSTLY_Q4_1",
    "q3_k_m": "LLAMA_FTYPE_MOSTLY_Q3_K_M", "q2_k": "LLAMA_FTYPE_MOSTLY_Q2_K",
}
QUANTS = (*FLOAT_TYPES, *QUANT_FTYPES)
_CONVERTER_MEMBERS = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/", "LICENSE")


# ---------------------------------------------------------------------------------------------
# llama-cpp-python and llama.cpp's converter
# ---------------------------------------------------------------------------------------------

def import_llama_cpp():
    """The bindings, quiet (llama.cpp logs every tensor otherwise), or a ModelError saying how to
    install them."""
    try:
        import llama_cpp
    except ImportError:
        raise ModelError("llama-cpp-python is not installed: run `make llamacpp` (builds it with the CPU "
                         "flags this project needs)") from None
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    return llama_cpp


def _cache_root() -> Path:
    return models_dir().parent


def llama_cpp_version() -> str:
    try:
        from importlib.metadata import version

        return version("llama-cpp-python")
    except Exception:  # noqa: BLE001  (not installed: the pinned one)
        return LLAMA_CPP_VERSION


def llama_cpp_source(version: str | None = None) -> Path:
    """llama.cpp's `convert_hf_to_gguf.py` (with `conversion/` and `gguf-py/`) from the
    llama-cpp-python source distribution of `version` (default: the installed bindings), so the
    converter writes what the bindings read. The sdist is downloaded once with pip into
    `<cache>/sdist`; the converter's files are extracted once into `<cache>/src/`."""
    version = version or llama_cpp_version()
    root = _cache_root()
    target = root / "src" / f"llama.cpp-{version}"
    if (target / "convert_hf_to_gguf.py").is_file():  # published by rename: complete when there
        return target
    sdists = root / "sdist"
    sdists.mkdir(parents=True, exist_ok=True)
    tarball = sdists / f"llama_cpp_python-{version}.tar.gz"
    if not tarball.is_file():
        cmd = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
               f"llama-cpp-python=={version}", "-d", str(sdists)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0 or not tarball.is_file():
            raise ModelError(f"could not download the llama-cpp-python {version} source distribution (it holds "
                             f"llama.cpp's GGUF converter): {' '.join(cmd)}\n{r.stderr[-1500:]}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = model_cache.temp_dir(target.parent)
    try:
        prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/"
        with tarfile.open(tarball) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefix)
                       and m.name[len(prefix):].startswith(_CONVERTER_MEMBERS) and (m.isfile() or m.isdir())]
            if not any(m.name == prefix + "convert_hf_to_gguf.py" for m in members):
                raise ModelError(f"{tarball} has no {prefix}convert_hf_to_gguf.py")
            for m in members:
                m.name = m.name[len(prefix):]
                if m.name.startswith("/") or ".." in Path(m.name).parts:
                    raise ModelError(f"{tarball}: unsafe member path {m.name!r}")
            try:
                tar.extractall(tmp, members=members, filter="data")
            except TypeError:  # Python before 3.10.12 has no extraction filters; the members are checked above
                tar.extractall(tmp, members=members)
        model_cache.publish_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def checkpoint_dir(model: str) -> Path:
    """The HF checkpoint directory of a trained run (`<run>` or `<run>/model`), a checkpoint
    directory, or a registry name / hub id (via `resolve_hf`; a hub id is downloaded)."""
    path = Path(model).expanduser()
    if path.is_file():
        raise ModelError(f"{model} is a file, not a Hugging Face checkpoint directory"
                         + (" (it is already GGUF)" if is_gguf(path) else ""))
    if path.is_dir():
        for cand in (path, path / "model"):
            if (cand / "config.json").is_file():
                return cand
        raise ModelError(f"{model} holds no Hugging Face checkpoint (no config.json in it or in its model/)")
    resolved = resolve_hf(model)  # registry name -> cache dir; hub id -> itself
    if Path(resolved).is_dir():
        return Path(resolved)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(resolved))
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"could not download {resolved} from the hub: {e}") from None


def is_gguf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == GGUF_MAGIC
    except OSError:
        return False


def check_gguf(path: str | Path) -> Path:
    """`path` as an existing GGUF file, or a ModelError that says what is wrong."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelError(f"GGUF model not found: {p}")
    if not p.is_file():
        raise ModelError(f"{p} is a directory, not a GGUF file")
    if not is_gguf(p):
        with open(p, "rb") as f:
            head = f.read(4)
        raise ModelError(f"{p} is not a GGUF file (it starts with {head!r}, not b'GGUF'); convert a Hugging Face "
                         "checkpoint with `mathdistill export MODEL --gguf --out FILE.gguf`")
    return p


def convert_checkpoint(ckpt: Path, out: Path, outtype: str = "f16") -> Path:
    """llama.cpp's converter in a subprocess: HF checkpoint dir -> GGUF file `out` (f32/f16/bf16)."""
    if outtype not in FLOAT_TYPES:
        raise ValueError(f"the converter writes {', '.join(FLOAT_TYPES)}; quantise with quantize()")
    if importlib.util.find_spec("sentencepiece") is None:
        raise ModelError("llama.cpp's converter needs sentencepiece (even for BPE tokenizers): "
                         "pip install 'mathdistill[train]'")
    src = llama_cpp_source()
    cmd = [sys.executable, str(src / "convert_hf_to_gguf.py"), str(ckpt), "--outfile", str(out),
           "--outtype", outtype]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if r.returncode != 0 or not out.is_file():
        raise ModelError(f"llama.cpp's converter failed on {ckpt} (exit {r.returncode}):\n"
                         + "\n".join((r.stderr or r.stdout).strip().splitlines()[-15:]))
    return out


def quantize(src: Path, out: Path, quant: str, threads: int | None = None) -> Path:
    """`llama_model_quantize` from the bindings: a float GGUF -> `quant` (q8_0, q4_k_m, ...)."""
    llama_cpp = import_llama_cpp()
    if quant not in QUANT_FTYPES:
        raise ValueError(f"unknown quantisation {quant!r}; use one of {', '.join(QUANTS)}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANT_FTYPES[quant])
    params.nthread = threads or cores()
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(out).encode(), ctypes.byref(params))
    if rc != 0 or not out.is_file():
        raise ModelError(f"llama_model_quantize {src} -> {quant} failed (code {rc})")
    return out


def write_gguf(ckpt: Path, out: Path, quant: str = "f16", threads: int | None = None) -> Path:
    """Checkpoint dir -> GGUF of type `quant` at `out`, written under a temporary name and renamed,
    so `out` is complete whenever it exists. Quantised types start from an f32 conversion."""
    if quant not in QUANTS:
        raise ModelError(f"unknown GGUF type {quant!r}; use one of {', '.join(QUANTS)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = model_cache.temp_dir(out.parent)
    try:
        if quant in FLOAT_TYPES:
            written = convert_checkpoint(ckpt, tmp / "model.gguf", quant)
        else:
            written = quantize(convert_checkpoint(ckpt, tmp / "model.f32.gguf", "f32"), tmp / "model.gguf", quant,
                               threads)
        written.chmod(0o644)
        os.replace(written, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def checkpoint_key(ckpt: Path) -> str:
    """Which weights a checkpoint dir holds, cheaply: path, names, sizes and mtimes of its files
    (a retrained run saved to the same path gets a new key)."""
    h = hashlib.sha256(str(ckpt.resolve()).encode())
    for f in sorted(p for p in ckpt.iterdir() if p.is_file()):
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def gguf_for(model: str, quant: str = "f16") -> Path:
    """A GGUF file for `model`: a `.gguf` path as it is; a checkpoint dir, run dir or registry name
    converted once into `<cache>/models/gguf/` (kept for the next call)."""
    path = Path(model).expanduser()
    if path.is_file() or path.suffix == ".gguf":
        return check_gguf(path)
    ckpt = checkpoint_dir(model)
    name = model if model in REGISTRY else ckpt.parent.name if ckpt.name in ("model", "hf") else ckpt.name
    out = models_dir() / "gguf" / f"{name}-{checkpoint_key(ckpt)}" / f"{name}.{quant}.gguf"
    if not out.is_file():
        model_cache.sweep_stale(out.parent) if out.parent.is_dir() else None
        write_gguf(ckpt, out, quant)
    return out


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def tokenize(lc, vocab, text: str) -> list[int]:
    """llama.cpp's tokenizer as HF's `tokenizer(text).input_ids`: special tokens written in the text
    are parsed, and BOS/EOS are added only where the GGUF says its tokenizer adds them."""
    data = text.encode("utf-8")
    size = len(data) + 8
    buf = (lc.llama_token * size)()
    n = lc.llama_tokenize(vocab, data, len(data), buf, size, True, True)
    if n < 0:  # pragma: no cover  (more tokens than bytes + 8)
        size = -n
        buf = (lc.llama_token * size)()
        n = lc.llama_tokenize(vocab, data, len(data), buf, size, True, True)
    return list(buf[:n])


class ClosesOnExit:
    """`with obj:` calls `obj.close()` at the end."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class GGUFVocab(ClosesOnExit):
    """A GGUF's tokenizer alone (no weights loaded): `with GGUFVocab(path) as v: v.tokenize(text)`."""

    def __init__(self, path: str | Path):
        self.llama_cpp = lc = import_llama_cpp()
        self.path = check_gguf(path)
        lc.llama_backend_init()
        params = lc.llama_model_default_params()
        params.vocab_only = True
        self._model = lc.llama_model_load_from_file(str(self.path).encode(), params)
        if not self._model:
            raise ModelError(f"llama.cpp could not read the vocabulary of {self.path}")
        self._vocab = lc.llama_model_get_vocab(self._model)
        self.add_bos = bool(lc.llama_vocab_get_add_bos(self._vocab))

    def tokenize(self, text: str) -> list[int]:
        return tokenize(self.llama_cpp, self._vocab, text)

    def end_of_generation(self) -> list[str]:
        """The texts of the tokens that end a generation in llama.cpp (EOS, EOT, ...)."""
        lc, v = self.llama_cpp, self._vocab
        return [lc.llama_vocab_get_text(v, t).decode("utf-8", errors="replace")
                for t in range(lc.llama_vocab_n_tokens(v)) if lc.llama_vocab_is_eog(v, t)]

    def close(self) -> None:
        if self._model:
            self.llama_cpp.llama_model_free(self._model)
            self._model = None

