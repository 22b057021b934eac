"""Student fine-tuning on tiny models built from configs (no seq2seq weights exist offline), with the
real SmolLM2 tokenizer and real ETD-shaped rows."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

pytest.importorskip("transformers")

from mathdistill.distill import train as train_module
from mathdistill.distill.train import (
    IGNORE,
    META_FILE,
    TrainConfig,
    encode,
    load_rows,
    train,
)
from mathdistill.distill.trainer import Collator
from mathdistill.thoughts import student_prompt
from toy_rows import TOY_ETD_ROWS

ROWS = TOY_ETD_ROWS


@pytest.fixture
def etd_file(tmp_path) -> Path:
    path = tmp_path / "etd.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


def test_causal_labels_mask_the_prompt_and_end_with_eos(tokenizer):
    q, completion = "Ann has 3 apples. She eats 1. How many are left?", "ans = 3 - 1"
    item = encode(tokenizer, student_prompt(q, "eot"), completion, seq2seq=False, max_len=512)
    prompt = tokenizer(student_prompt(q, "eot")).input_ids
    target = tokenizer(completion, add_special_tokens=False).input_ids
    assert item["input_ids"] == prompt + target + [tokenizer.eos_token_id]
    assert item["labels"][: len(prompt)] == [IGNORE] * len(prompt)
    assert item["labels"][len(prompt):] == target + [tokenizer.eos_token_id]
    assert tokenizer.decode([t for t in item["labels"] if t != IGNORE], skip_special_tokens=True) == completion


def test_seq2seq_input_is_the_prompt_and_labels_the_completion(tokenizer):
    item = encode(tokenizer, student_prompt("What is 2 + 2?", "pot"), "ans = 2 + 2", seq2seq=True, max_len=512)
    assert tokenizer.decode(item["input_ids"]) == student_prompt("What is 2 + 2?", "pot")
    assert IGNORE not in item["labels"] and item["labels"][-1] == tokenizer.eos_token_id


def test_truncation_keeps_labels_aligned(tokenizer):
    item = encode(tokenizer, student_prompt("x " * 50, "cot"), "1 + 1 = 2. The answer is 2.", seq2seq=False, max_len=20)
    assert len(item["input_ids"]) == len(item["labels"]) == 20


def test_collator_pads_labels_with_ignore_even_when_pad_is_eos(tokenizer):
    assert tokenizer.pad_token_id == tokenizer.eos_token_id  # SmolLM2: the case that breaks id-based masking
    a = encode(tokenizer, student_prompt("What is 2 + 2?", "eot"), "ans = 2 + 2", False, 512)
    b = encode(tokenizer, student_prompt("What is 10 + 20 + 30 + 40?", "eot"), "ans = 10 + 20 + 30 + 40", False, 512)
    batch = Collator(tokenizer.pad_token_id)([a, b])
    n = len(a["input_ids"])
    assert batch["input_ids"].shape == batch["labels"].shape == (2, len(b["input_ids"]))
    assert batch["attention_mask"][0].tolist() == [1] * n + [0] * (len(b["input_ids"]) - n)
    assert batch["labels"][0, n - 1].item() == tokenizer.eos_token_id  # the real EOS is learned
    assert (batch["labels"][0, n:] == IGNORE).all()  # padding is not


def test_load_rows_selects_thoughts_and_limits_problems(etd_file):
    pot = load_rows([str(etd_file)], ["pot"])
    assert len(pot) == 8 and {r["thought"] for r in pot} == {"pot"}
    three = load_rows([str(etd_file)], ["cot", "pot", "eot"], limit=3)
    assert len(three) == 9 and {r["id"] for r in three} == {"toy/train/0", "toy/train/1", "toy/train/2"}


def test_full_finetune_changes_weights_saves_and_resumes(tiny_causal, etd_file, tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM, TrainerCallback

    class CountSteps(TrainerCallback):
        steps = 0

        def on_step_end(self, args, state, control, **kwargs):
            CountSteps.steps += 1

    cfg = TrainConfig(model=tiny_causal, data=[str(etd_file)], out=str(tmp_path / "run"), max_steps=2, batch_size=4,
                      lr=1e-2, save_steps=1, logging_steps=1, bf16=False)
    first = train(cfg)
    assert first.steps == 2 and first.rows == 24 and first.tokens > 0
    assert (tmp_path / "run" / "checkpoints" / "checkpoint-2").is_dir()
    before = AutoModelForCausalLM.from_pretrained(tiny_causal).model.embed_tokens.weight
    after = AutoModelForCausalLM.from_pretrained(first.model_dir).model.embed_tokens.weight
    assert not torch.equal(before, after)
    meta = json.loads((Path(first.model_dir) / META_FILE).read_text())
    assert meta["problems"] == 8 and meta["config"]["thoughts"] == ["cot", "pot", "eot"]

    cfg.max_steps, cfg.resume = 3, True
    ticks = iter(range(0, 1000, 10))  # a clock that reads 10 s more at each look: the run takes exactly 10 s
    monkeypatch.setattr(train_module, "time", SimpleNamespace(perf_counter=lambda: float(next(ticks))))
    resumed = train(cfg, callbacks=[CountSteps()])
    assert resumed.steps == 3 and resumed.resumed_at_step == 2
    assert CountSteps.steps == 1  # continued from checkpoint-2 instead of starting over
    # the throughput counts this process's step only, not the checkpoint's tokens as well
    assert resumed.tokens > first.tokens and resumed.seconds == 10.0
    assert resumed.tokens_per_second == round((resumed.tokens - first.tokens) / 10.0, 1)


def test_lora_seq2seq_is_merged_into_a_plain_checkpoint(tiny_t5, etd_file, tmp_path):
    from transformers import AutoModelForSeq2SeqLM

    cfg = TrainConfig(model=tiny_t5, data=[str(etd_file)], thoughts=["eot"], out=str(tmp_path / "run"), max_steps=2,
                      batch_size=4, lr=1e-2, lora=True, lora_targets=["q", "v"], save_steps=10, bf16=False)
    result = train(cfg)
    saved = Path(result.model_dir)
    assert not (saved / "adapter_config.json").exists()
    base = AutoModelForSeq2SeqLM.from_pretrained(tiny_t5).state_dict()
    tuned = AutoModelForSeq2SeqLM.from_pretrained(saved).state_dict()
    assert set(base) == set(tuned)  # no lora_A / lora_B left: adapters were merged
    changed = {k for k in base if not torch.equal(base[k], tuned[k])}
    assert changed and all(k.endswith((".q.weight", ".v.weight")) for k in changed)


def _batch(tokenizer):
    items = [encode(tokenizer, student_prompt(r["question"], r["thought"]), r["completion"], False, 512) for r in ROWS[:6]]
    return Collator(tokenizer.pad_token_id)(items)


def test_completion_only_logits_give_the_models_own_loss_and_gradients(tiny_causal, tokenizer):
    from transformers import AutoModelForCausalLM

    from mathdistill.distill.trainer import _completion_loss

    model = AutoModelForCausalLM.from_pretrained(tiny_causal, dtype=torch.float32)
    batch = _batch(tokenizer)
    n_items = (batch["labels"][:, 1:] != IGNORE).sum()
    for items in (None, n_items):
        model.zero_grad()
        kwargs = {} if items is None else {"num_items_in_batch": items}
        reference = model(**batch, **kwargs).loss
        reference.backward()
        ref_grad = model.model.layers[0].mlp.up_proj.weight.grad.clone()
        model.zero_grad()
        fast = _completion_loss(model.get_decoder(), model.get_output_embeddings(), batch, items)
        fast.backward()
        assert torch.allclose(fast, reference, rtol=1e-5, atol=1e-6)
        assert torch.allclose(model.model.layers[0].mlp.up_proj.weight.grad, ref_grad, rtol=1e-4, atol=1e-7)


def _first_loss(model, tokenizer, tmp_path):
    from mathdistill.distill.trainer import RowsDataset, make_student_trainer, training_arguments

    cfg = TrainConfig(max_steps=1, batch_size=4, bf16=False)
    trainer = make_student_trainer(model=model, args=training_arguments(cfg, str(tmp_path), save_strategy="no"),
                                   train_dataset=RowsDataset([]), data_collator=Collator(tokenizer.pad_token_id))
    loss = trainer.compute_loss(model, _batch(tokenizer))
    return trainer, loss


def test_trainer_uses_the_shortcut_where_it_agrees(tiny_causal, tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_causal, dtype=torch.float32)
    trainer, loss = _first_loss(model, tokenizer, tmp_path)
    assert trainer.fast_loss is True
    assert torch.allclose(loss, model(**_batch(tokenizer)).loss, rtol=1e-5)


def test_trainer_falls_back_when_logits_are_more_than_the_output_layer(tokenizer, tmp_path):
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(0)
    model = Gemma2ForCausalLM(Gemma2Config(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, final_logit_softcapping=0.5, pad_token_id=tokenizer.pad_token_id))
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(100)  # logits large enough for the cap to matter
    model.eval()
    trainer, loss = _first_loss(model, tokenizer, tmp_path)
    assert trainer.fast_loss is False  # soft-capped logits: the shortcut is wrong, so it is not used
    with torch.no_grad():
        assert torch.allclose(loss, model(**_batch(tokenizer)).loss, rtol=1e-5)


def test_mmap_threshold_is_fixed_on_glibc_unless_the_user_chose(monkeypatch):
    import platform

    from mathdistill.distill.train import fix_mmap_threshold

    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert fix_mmap_threshold(0) is False  # 0 leaves glibc's own rule
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":  # in a child: mallopt is process-wide
        import subprocess
        import sys

        code = "from mathdistill.distill.train import fix_mmap_threshold as f; print(f(4))"
        done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        assert done.stdout.strip() == "True"
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1048576")
    assert fix_mmap_threshold(4) is False  # the environment wins
    from mathdistill.config import ConfigError, validated

    with pytest.raises(ConfigError, match="mmap_threshold_mb"):
        validated(TrainConfig(mmap_threshold_mb=-1))


@pytest.mark.slow  # two training processes (~1-2 min on a busy 2-core machine)
def test_memory_benchmark_measures_both_settings_on_the_same_work(tiny_causal, etd_file, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "memory.json"
    bench = Path(__file__).parents[1] / "benchmarks" / "train_memory.py"
    subprocess.run([sys.executable, str(bench), "--model", tiny_causal, "--data", str(etd_file), "--steps", "3",
                    "--batch-size", "4", "--max-len", "64", "--out", str(out)], check=True, capture_output=True)
    report = json.loads(out.read_text())
    default, fixed = report["glibc_default"], report["fixed"]
    assert (default["mmap_threshold_mb"], fixed["mmap_threshold_mb"]) == (0, 4)
    # a fair comparison: the same batches (same real tokens) trained in each setting
    assert default["steps"] == fixed["steps"] == 3 and default["tokens"] == fixed["tokens"] > 0
    for run in (default, fixed):
        samples = run["rss_mb_per_step"]
        assert len(samples) == 3
        assert all(100 < mb <= run["peak_rss_mb"] + 1 for mb in samples), run  # torch is loaded; the peak bounds all
        assert run["mean_rss_mb"] == round(sum(samples) / 3) and run["last_rss_mb"] == samples[-1]
    # the ratios are those of the two runs
    assert report["mean_rss_ratio_default_over_fixed"] == round(default["mean_rss_mb"] / fixed["mean_rss_mb"], 2)
    assert report["peak_ratio_default_over_fixed"] == round(default["peak_rss_mb"] / fixed["peak_rss_mb"], 2)
