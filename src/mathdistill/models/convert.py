"""GGUF -> ordinary Hugging Face checkpoint, and `resolve_hf` for names, hub ids and paths.

transformers dequantizes a GGUF (weights and tokenizer) when loading it with `gguf_file=`; the
model then still carries the GGUF quantizer, which would make `save_pretrained` write a config that
reloads as "quantized" and refuses training. Clearing it yields a plain fp32 checkpoint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from . import cache
from .fetch import hf_path, pull
from .registry import REGISTRY, ModelError, unknown_name_message

SOURCE_FILE = "mathdistill-source.json"


def resolve_hf(name_or_path: str) -> str:
    """A local HF checkpoint dir for a registered name (pulled/converted and cached on first use);
    any other hub id ("org/name") or path is returned unchanged, for users who have a hub."""
    spec = REGISTRY.get(name_or_path)
    if spec is None:
        return _passthrough(name_or_path)
    if spec.format != "gguf":
        return str(pull(spec.name))
    out = hf_path(spec)
    if not out.is_dir():  # directories appear only by atomic rename, so one that exists is complete
        gguf = pull(spec.name)
        convert_gguf(gguf, out, source={"name": spec.name, "hub_id": spec.hub_id, "license": spec.license,
                                        "gguf_sha256": cache.verified_digest(gguf)})
    return str(out)


def _passthrough(name_or_path: str) -> str:
    path = Path(name_or_path).expanduser()
    if path.exists():
        return name_or_path
    if name_or_path.startswith(("/", "./", "../", "~")) or name_or_path.count("/") > 1:  # a hub id is org/name
        raise ModelError(f"{name_or_path} does not exist. Give an existing checkpoint directory, "
                         f"a hub id 'org/name', or one of: {', '.join(REGISTRY)}.")
    if "/" in name_or_path:
        return name_or_path
    raise ModelError(unknown_name_message(name_or_path))


def convert_gguf(gguf: Path, out: Path, source: dict | None = None) -> Path:
    """Dequantize `gguf` to an fp32 HF model + tokenizer in directory `out` (written atomically).

    `source`, if given, is saved as mathdistill-source.json in `out` to record provenance.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if out.exists():
        raise ModelError(f"{out} already exists; delete it to convert again.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.temp_dir(out.parent)
    try:
        try:
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                         dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        except (ValueError, ImportError, OSError) as e:
            raise ModelError(f"transformers could not load {gguf} as GGUF ({e}). It needs the 'gguf' "
                             "package (pip install 'mathdistill[train]') and an architecture transformers "
                             "supports in GGUF form.") from e
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if source is not None:
            (tmp / SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n", encoding="utf-8")
        cache.publish_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
