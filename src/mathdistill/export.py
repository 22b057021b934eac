"""`mathdistill export MODEL --gguf`: a trained student as one GGUF file that llama.cpp, Ollama and
`mathdistill serve` run, with an Ollama Modelfile and a model card beside it.

    export_gguf("runs/train/smollm2_etd_svamp", "dist/student.q8_0.gguf", quant="q8_0",
                metrics="runs/eval/smollm2_etd_svamp/metrics.json")

The conversion is llama.cpp's own: `convert_hf_to_gguf.py` from the llama-cpp-python source
distribution (the same llama.cpp the bindings were built from) writes f32/f16/bf16, and
`llama_model_quantize` from the bindings makes q8_0, q4_k_m and the other quantised types from an
f32 conversion (`models.to_gguf.write_gguf`). After writing, the file's tokenizer is
checked against the checkpoint's HF tokenizer on the student's own prompts: a GGUF that would see
other token ids than the student saw in training (a BOS added, a pre-tokenizer changed) is refused.

The student is prompted with plain text and no chat template (`Question: ...\\n<instruction>\\n`),
decodes greedily and stops at its end-of-sequence token; the Modelfile sets Ollama up the same way
(a TEMPLATE that passes the prompt through, temperature 0, no repeat penalty, the stop tokens).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .models.to_gguf import QUANTS, GGUFVocab, checkpoint_dir, llama_cpp_version, write_gguf
from .models import REGISTRY, ModelError
from .thoughts import INSTRUCTIONS, THOUGHTS, student_prompt

TRAIN_META = "mathdistill_train.json"  # what `mathdistill train` writes into <run>/model/
SOURCE_META = "mathdistill-source.json"  # what the model registry writes into a converted checkpoint
# prompts whose tokenization must be identical in the GGUF and in the HF tokenizer
PARITY_QUESTIONS = (
    "Jack had 3 apples and ate 1.5 of them. How many are left?",
    "A store sold 1,200 pens at $0.75 each (25% off). What was the total?",
    "Héllo wörld: Ms. Li's 12 cats\tate 2/3 of 4 cans; x = 7 ; print(ans)",
)


@dataclass(frozen=True)
class ExportResult:
    gguf: Path
    modelfile: Path
    card: Path
    quant: str
    size_bytes: int
    checkpoint: Path


def export_gguf(model: str, out: str | Path, quant: str = "f16", metrics: str | Path | None = None,
                name: str | None = None, threads: int | None = None) -> Path:
    """`model` (a run dir, its `model/`, a registry name or any HF causal checkpoint) -> GGUF file
    `out` of type `quant`, with `Modelfile` and `README.md` beside it. Returns the GGUF's path."""
    return export(model, out, quant, metrics, name, threads).gguf


def export(model: str, out: str | Path, quant: str = "f16", metrics: str | Path | None = None,
           name: str | None = None, threads: int | None = None) -> ExportResult:
    """`export_gguf`, returning every file written (what the CLI reports)."""
    quant = quant.lower()
    if quant not in QUANTS:
        raise ModelError(f"--quant {quant!r}: use one of {', '.join(QUANTS)}")
    out = Path(out).expanduser()
    if out.suffix != ".gguf":
        raise ModelError(f"{out}: the output file must end in .gguf")
    if out.is_dir():
        raise ModelError(f"{out} is a directory; give the GGUF file's path")
    metrics_data = _read_metrics(metrics) if metrics else None
    ckpt = checkpoint_dir(model)
    _check_causal(ckpt)
    name = name or _default_name(model, ckpt)
    write_gguf(ckpt, out, quant, threads)
    with GGUFVocab(out) as vocab:
        check_tokenizer(vocab, ckpt)
        stops = vocab.end_of_generation()
    modelfile, card = companion_paths(out)
    modelfile.write_text(render_modelfile(out.name, name, stops, modelfile.name), encoding="utf-8")
    card.write_text(render_card(name, out, quant, ckpt, model, metrics_data, metrics, modelfile.name),
                    encoding="utf-8")
    return ExportResult(out, modelfile, card, quant, out.stat().st_size, ckpt)


def companion_paths(out: Path) -> tuple[Path, Path]:
    """Where the Modelfile and the model card of GGUF `out` go: `Modelfile` and `README.md` beside
    it, unless those belong to another GGUF in the same directory (an earlier export of another
    type): then `<stem>.Modelfile` and `<stem>.README.md`, so that no export overwrites another's."""
    modelfile, card = out.parent / "Modelfile", out.parent / "README.md"
    for path in (modelfile, card):
        if path.is_file() and not _written_for(path, out.name):
            return out.parent / f"{out.stem}.Modelfile", out.parent / f"{out.stem}.README.md"
    return modelfile, card


def _written_for(path: Path, gguf_name: str) -> bool:
    """Whether an existing Modelfile / model card was written by an export of `gguf_name`."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return f"FROM ./{gguf_name}\n" in text if path.suffix != ".md" else f"<!-- mathdistill export: {gguf_name} -->" in text


# ---------------------------------------------------------------------------------------------
# checks

def _check_causal(ckpt: Path) -> None:
    config = json.loads((ckpt / "config.json").read_text())
    if config.get("is_encoder_decoder"):
        raise ModelError(f"{ckpt} is an encoder-decoder (seq2seq) model; llama.cpp's GGUF export here covers "
                         "causal students (Llama, Qwen, Gemma, ... families)")


def check_tokenizer(vocab: GGUFVocab, ckpt: Path, texts: list[str] | None = None) -> None:
    """The GGUF must tokenize the student's prompts into the ids its HF tokenizer gives."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(ckpt)
    texts = texts or [student_prompt(q, t) for q in PARITY_QUESTIONS for t in THOUGHTS]
    for text in texts:
        hf, gg = tok(text).input_ids, vocab.tokenize(text)
        if hf != gg:
            at = next((i for i, (a, b) in enumerate(zip(hf, gg)) if a != b), min(len(hf), len(gg)))
            raise ModelError(f"{vocab.path}: llama.cpp tokenizes {text!r} differently from the HF tokenizer of "
                             f"{ckpt} (first difference at token {at}: HF {hf[at:at + 5]}, GGUF {gg[at:at + 5]}); "
                             "the exported model would not see the prompts it was trained on")


def _read_metrics(path: str | Path) -> dict:
    p = Path(path)
    if p.is_dir():
        p = p / "metrics.json"
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"--metrics {path}: cannot read an evaluation's metrics.json ({e})") from None
    if not isinstance(data, dict) or "splits" not in data:
        raise ModelError(f"--metrics {p}: not the metrics.json of `mathdistill evaluate` (no 'splits')")
    return data


def _default_name(model: str, ckpt: Path) -> str:
    if model in REGISTRY:
        return model
    return ckpt.parent.name if ckpt.name == "model" else ckpt.name


# ---------------------------------------------------------------------------------------------
# Modelfile and model card

def render_modelfile(gguf_name: str, name: str, stops: list[str], filename: str = "Modelfile") -> str:
    stop_lines = "".join(f"PARAMETER stop {json.dumps(s)}\n" for s in stops)
    example = student_prompt("Jack had 3 apples and ate 1. How many are left?", "cot")
    return f"""# Ollama Modelfile for {name}, a mathdistill student.
#   ollama create {_ollama_name(name)} -f {filename}
#   ollama run {_ollama_name(name)} {_shell_quote(example)}
# The student was trained on plain-text prompts with no chat template:
#   Question: <question>\\n<instruction>\\n
# with one of the instructions
{"".join(f"#   {t}: {i}{chr(10)}" for t, i in INSTRUCTIONS.items())}# so the template passes the prompt through unchanged, and decoding is greedy.
FROM ./{gguf_name}
TEMPLATE \"\"\"{{{{ .Prompt }}}}\"\"\"
PARAMETER temperature 0
PARAMETER repeat_penalty 1
PARAMETER num_predict 400
{stop_lines}"""


def _ollama_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name.lower())


def _shell_quote(text: str) -> str:
    """Bash $'...' quoting, so newlines survive on a command line."""
    return "$'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def _base_model(model: str, ckpt: Path, meta: dict | None) -> dict:
    """name, hub_id and license of the pretrained model the student started from, as far as known."""
    if model in REGISTRY:
        spec = REGISTRY[model]
        return {"name": spec.name, "hub_id": spec.hub_id, "license": spec.license}
    candidates = []
    if meta:
        base = (meta.get("config") or {}).get("model")
        if base in REGISTRY:
            spec = REGISTRY[base]
            return {"name": spec.name, "hub_id": spec.hub_id, "license": spec.license}
        if meta.get("base_model"):
            candidates.append(Path(meta["base_model"]) / SOURCE_META)
        if base:
            candidates.append(Path(base) / SOURCE_META)
    candidates.append(ckpt / SOURCE_META)
    for c in candidates:
        if c.is_file():
            src = json.loads(c.read_text())
            return {"name": src.get("name", "?"), "hub_id": src.get("hub_id", "?"), "license": src.get("license", "?")}
    base = (meta or {}).get("config", {}).get("model") if meta else None
    return {"name": base or str(ckpt), "hub_id": base if base and base.count("/") == 1 else "?",
            "license": "unknown: see the base model's own license"}


def render_card(name: str, gguf: Path, quant: str, ckpt: Path, model: str, metrics: dict | None,
                metrics_path: str | Path | None, modelfile: str = "Modelfile") -> str:
    meta_path = ckpt / TRAIN_META
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else None
    base = _base_model(model, ckpt, meta)
    size_mb = gguf.stat().st_size / 1e6
    intro = ("A math word problem solver distilled with mathdistill: a small language model fine-tuned on verified "
             "Chain-of-Thought (CoT), Program-of-Thought (PoT) and Equation-of-Thought (EoT) rationales, exported "
             "to GGUF for llama.cpp and Ollama." if meta else
             "The base model mathdistill students start from, exported to GGUF for llama.cpp and Ollama "
             "(not fine-tuned: no training record in the checkpoint).")
    lines = [f"# {name}", "", intro, "",
             "| | |", "|---|---|",
             f"| file | `{gguf.name}` ({size_mb:.0f} MB, {quant.upper()}) |",
             f"| base model | {base['name']} (`{base['hub_id']}`) |",
             f"| license | {base['license']} (the base model's upstream license, which binds these weights) |",
             f"| exported from | `{ckpt}` with llama.cpp's converter (llama-cpp-python {llama_cpp_version()}) |",
             ""]
    lines += ["## Training", ""]
    if meta:
        cfg = meta.get("config") or {}
        rows = [("data", ", ".join(f"`{d}`" for d in cfg.get("data", [])) or "?"),
                ("thoughts", ", ".join(cfg.get("thoughts", [])) or "?"),
                ("training problems / rows", f"{meta.get('problems', '?')} / {meta.get('rows', '?')}"),
                ("epochs, steps", f"{cfg.get('epochs', '?')}, {meta.get('steps', '?')}"),
                ("batch size x grad accumulation", f"{cfg.get('batch_size', '?')} x {cfg.get('grad_accum', '?')}"),
                ("learning rate", cfg.get("lr", "?")), ("max length (tokens)", cfg.get("max_len", "?")),
                ("LoRA", f"r={cfg.get('lora_r')}, merged" if cfg.get("lora") else "no (full fine-tune)"),
                ("final loss", meta.get("final_loss", "?")), ("seed", cfg.get("seed", "?"))]
        lines += ["| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows], "",
                  f"Only rationales whose answer was verified against the gold answer were trained on "
                  f"(CoT by answer extraction, PoT in a sandbox, EoT by an exact equation solver). The full "
                  f"training record is `{TRAIN_META}` in the checkpoint.", ""]
    else:
        lines += [f"No training record (`{TRAIN_META}`) in `{ckpt}`: this is the base model as it is, "
                  "not a trained student.", ""]
    lines += ["## Accuracy", ""]
    if metrics:
        gen = (metrics.get("config") or {}).get("backend", "transformers")
        lines += [f"Measured by `mathdistill evaluate` ({metrics_path}) with the {gen} backend on the "
                  f"checkpoint's own weights; a quantised file can differ slightly (compare with "
                  f"`scripts/gguf_fidelity.py`). Greedy decoding, CoT policy `{metrics.get('cot_policy', '?')}`.", "",
                  "| split | problems | CoT | PoT | EoT | vote | plausible vote | oracle |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for spec, m in metrics.get("splits", {}).items():
            bt = m.get("by_thought", {})

            def pct(block):
                return f"{block['accuracy']:.1%}" if isinstance(block, dict) and "accuracy" in block else "-"
            lines.append(f"| {spec} | {m.get('problems', '?')} | {pct(bt.get('cot'))} | {pct(bt.get('pot'))} | "
                         f"{pct(bt.get('eot'))} | {pct(m.get('vote'))} | {pct(m.get('vote_plausible'))} | "
                         f"{pct(m.get('oracle'))} |")
        lines.append("")
    else:
        lines += ["Not given to the export (`--metrics runs/eval/.../metrics.json` adds the table).", ""]
    example = student_prompt("Jack had 3 apples and ate 1. How many are left?", "cot")
    ollama = _ollama_name(name)
    lines += ["## Prompt format", "",
              "Plain text, no chat template, no BOS token added (the GGUF's tokenizer settings match the "
              "training tokenizer; the export checks it):", "", "```text", "Question: <question>",
              "<instruction>", "```", "",
              "followed by a newline, with one instruction per thought:", "",
              *[f"- {t.upper()}: `{i}`" for t, i in INSTRUCTIONS.items()], "",
              "Decode greedily (temperature 0, no repetition penalty) for up to ~160-400 tokens; the model stops "
              "at its end-of-sequence token. PoT answers are Python programs (the answer is `ans`), EoT answers "
              "are equation systems for `ans`: run them through mathdistill (`mathdistill solve`, `serve`) to "
              "get checked numbers and the vote of the three thoughts.", "",
              "## Run it", "", "llama.cpp (`llama-server` speaks the OpenAI API):", "", "```bash",
              f"llama-server -m {gguf.name} --port 8080",
              "curl http://127.0.0.1:8080/v1/completions -H 'Content-Type: application/json' -d '{\"prompt\": "
              + json.dumps(example).replace("'", "'\\''") + ", \"max_tokens\": 160, \"temperature\": 0}'",
              "```", "", "llama-cpp-python:", "", "```python", "from llama_cpp import Llama",
              f"llm = Llama(model_path={gguf.name!r}, n_ctx=1024, verbose=False)",
              f"print(llm({example!r}, max_tokens=160, temperature=0, repeat_penalty=1.0)['choices'][0]['text'])",
              "```", "", f"Ollama (the `{modelfile}` beside this card):", "", "```bash",
              f"ollama create {ollama} -f {modelfile}", f"ollama run {ollama} {_shell_quote(example)}", "```", "",
              "mathdistill (verified answers and the vote; `--backend llamacpp` batches many sequences):", "",
              "```bash", f"mathdistill serve {gguf.name} --backend llamacpp --set 'backend_options={{parallel: 4}}'",
              f"mathdistill evaluate --model {gguf.name} --backend llamacpp --split svamp:test", "```", "",
              f"<!-- mathdistill export: {gguf.name} -->", ""]
    return "\n".join(lines)

