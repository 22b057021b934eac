"""`mathdistill export MODEL --gguf`: llama.cpp's converter (+ llama_model_quantize) writes a GGUF
that llama.cpp loads and runs, with a Modelfile and a model card beside it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mathdistill.export import check_tokenizer, export, render_card, render_modelfile
from mathdistill.models import ModelError
from mathdistill.thoughts import student_prompt


def test_bad_requests_are_refused_before_any_work(tmp_path, tiny_causal, tiny_t5):
    with pytest.raises(ModelError, match="--quant 'q3_x'"):
        export(tiny_causal, tmp_path / "a.gguf", "q3_x")
    with pytest.raises(ModelError, match="must end in .gguf"):
        export(tiny_causal, tmp_path / "a.bin", "f16")
    with pytest.raises(ModelError, match="encoder-decoder"):
        export(tiny_t5, tmp_path / "a.gguf", "f16")
    with pytest.raises(ModelError, match="holds no Hugging Face checkpoint"):
        export(str(tmp_path), tmp_path / "a.gguf", "f16")
    with pytest.raises(ModelError, match="does not exist"):
        export(str(tmp_path / "nothing"), tmp_path / "a.gguf", "f16")
    bad = tmp_path / "metrics.json"
    bad.write_text("{}")
    with pytest.raises(ModelError, match="not the metrics.json of `mathdistill evaluate`"):
        export(tiny_causal, tmp_path / "a.gguf", "f16", metrics=bad)
    assert not list(tmp_path.glob("*.gguf"))


def test_a_tokenizer_mismatch_is_refused(tiny_causal):
    class BosAdding:  # what a GGUF whose tokenizer adds BOS would do
        path = Path("x.gguf")

        def __init__(self, tok):
            self.tok = tok

        def tokenize(self, text):
            return [1] + self.tok(text).input_ids

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_causal)
    with pytest.raises(ModelError, match=r"tokenizes .* differently .*first difference at token 0: HF \[17872"):
        check_tokenizer(BosAdding(tok), Path(tiny_causal))

    class Same(BosAdding):
        def tokenize(self, text):
            return self.tok(text).input_ids

    check_tokenizer(Same(tok), Path(tiny_causal))


def test_modelfile_passes_the_raw_prompt_through_and_decodes_greedily():
    text = render_modelfile("s.q8_0.gguf", "My Student", ["<|im_end|>", "<|endoftext|>"])
    lines = text.splitlines()
    assert "FROM ./s.q8_0.gguf" in lines
    assert 'TEMPLATE """{{ .Prompt }}"""' in lines
    assert "PARAMETER temperature 0" in lines and "PARAMETER repeat_penalty 1" in lines
    assert 'PARAMETER stop "<|im_end|>"' in lines and 'PARAMETER stop "<|endoftext|>"' in lines
    assert "ollama create my-student -f Modelfile" in text
    assert not any(line.startswith(("SYSTEM", "ADAPTER")) for line in lines)


def test_the_card_tells_base_model_license_training_and_accuracy(tmp_path):
    ckpt = tmp_path / "run" / "model"
    ckpt.mkdir(parents=True)
    meta = {"config": {"model": "smollm2-135m", "data": ["runs/gold_etd_svamp/etd.jsonl"], "thoughts": ["cot", "pot", "eot"],
                       "epochs": 3, "batch_size": 16, "grad_accum": 1, "lr": 1e-4, "max_len": 384, "lora": False,
                       "seed": 0},
            "problems": 3138, "rows": 8000, "steps": 1500, "final_loss": 0.31}
    (ckpt / "mathdistill_train.json").write_text(json.dumps(meta))
    gguf = tmp_path / "out" / "run.q8_0.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF" + bytes(1000))
    metrics = {"cot_policy": "flexible", "config": {"backend": "transformers"},
               "splits": {"svamp:test": {"problems": 1000,
                                         "by_thought": {t: {"n": 1000, "correct": c, "accuracy": c / 1000}
                                                        for t, c in (("cot", 120), ("pot", 250), ("eot", 231))},
                                         "vote": {"accuracy": 0.262}, "vote_plausible": {"accuracy": 0.27},
                                         "oracle": {"accuracy": 0.41}}}}
    card = render_card("run", gguf, "q8_0", ckpt, str(tmp_path / "run"), metrics, "runs/eval/run/metrics.json")
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in card and "Apache-2.0" in card
    assert "runs/gold_etd_svamp/etd.jsonl" in card and "3138 / 8000" in card and "cot, pot, eot" in card
    assert "| svamp:test | 1000 | 12.0% | 25.0% | 23.1% | 26.2% | 27.0% | 41.0% |" in card
    assert "Q8_0" in card and "no BOS" in card
    assert "ollama create run -f Modelfile" in card and "llama-server -m run.q8_0.gguf" in card
    for instruction in ("Let's think step by step.", "Let's break down the code step by step.",
                        "System of linear equations: (Do not simplify)"):
        assert instruction in card


@pytest.fixture(scope="module")
def llama_cpp():
    return pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (make llamacpp)")


def _file_type(path: Path) -> int:
    from gguf import GGUFReader

    field = GGUFReader(path).fields["general.file_type"]
    return int(field.parts[field.data[0]][0])


@pytest.mark.slow
@pytest.mark.parametrize("quant,file_type", [("f16", 1), ("q8_0", 7)])
def test_export_of_the_real_smollm2_loads_and_runs_in_llama_cpp(llama_cpp, tmp_path, quant, file_type):
    from mathdistill.evaluate.backends.llamacpp import LlamaCppBackend

    out = tmp_path / "dist" / f"smollm2.{quant}.gguf"
    r = export("smollm2-135m", out, quant)
    assert r.gguf == out and out.is_file() and r.size_bytes == out.stat().st_size
    assert _file_type(out) == file_type
    assert (100e6 if quant == "q8_0" else 200e6) < r.size_bytes < (200e6 if quant == "q8_0" else 300e6)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".tmp-")]
    assert f"FROM ./{out.name}" in (out.parent / "Modelfile").read_text()
    card = (out.parent / "README.md").read_text()
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in card and "not fine-tuned" in card
    with LlamaCppBackend(str(out), parallel=2, threads=1) as be:
        texts = be.generate([student_prompt("Tom had 5 apples and ate 2. How many are left?", "cot")] * 2, 12)
    assert texts[0] and texts[0] == texts[1]


@pytest.mark.slow
def test_cli_exports_a_trained_run_with_its_record_and_metrics(llama_cpp, tmp_path, tiny_causal):
    """A run dir (<run>/model with mathdistill_train.json) through the command line, to q4_k_m."""
    import shutil

    run = tmp_path / "runs" / "tiny_etd"
    shutil.copytree(tiny_causal, run / "model")
    (run / "model" / "mathdistill_train.json").write_text(json.dumps(
        {"config": {"model": "smollm2-135m", "data": ["etd.jsonl"], "thoughts": ["eot"]}, "problems": 7, "rows": 7}))
    metrics = tmp_path / "eval" / "metrics.json"
    metrics.parent.mkdir()
    metrics.write_text(json.dumps({"splits": {"svamp:test": {"problems": 3, "by_thought": {"eot": {"accuracy": 1 / 3}},
                                                             "vote": {"accuracy": 0.0}}}}))
    out = tmp_path / "dist" / "tiny.gguf"
    p = subprocess.run([sys.executable, "-m", "mathdistill", "export", str(run), "--gguf", "--quant", "q4_k_m",
                        "--out", str(out), "--metrics", str(metrics.parent)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    assert str(out) in p.stdout and out.is_file()
    assert _file_type(out) == 15  # LLAMA_FTYPE_MOSTLY_Q4_K_M
    card = (out.parent / "README.md").read_text()
    assert card.startswith("# tiny_etd") and "etd.jsonl" in card and "| svamp:test | 3 | - | - | 33.3% |" in card
    assert "ollama create tiny_etd" in (out.parent / "Modelfile").read_text()


def test_a_second_export_into_one_directory_keeps_the_first_ones_modelfile_and_card(tmp_path):
    from mathdistill.export import companion_paths

    f16, q8 = tmp_path / "s.f16.gguf", tmp_path / "s.q8_0.gguf"
    assert companion_paths(f16) == (tmp_path / "Modelfile", tmp_path / "README.md")  # an empty directory
    (tmp_path / "Modelfile").write_text(f"# ...\nFROM ./{f16.name}\nTEMPLATE x\n")
    (tmp_path / "README.md").write_text(f"# s\n\n<!-- mathdistill export: {f16.name} -->\n")
    assert companion_paths(f16) == (tmp_path / "Modelfile", tmp_path / "README.md")  # re-export: its own files
    assert companion_paths(q8) == (tmp_path / "s.q8_0.Modelfile", tmp_path / "s.q8_0.README.md")
    (tmp_path / "Modelfile").unlink()
    (tmp_path / "README.md").write_text("# my own notes\n")  # a README that no export wrote is never overwritten
    assert companion_paths(f16) == (tmp_path / "s.f16.Modelfile", tmp_path / "s.f16.README.md")
