"""Training throughput: our loop (bf16 autocast where the CPU has it, length-grouped batches with
dynamic padding, eager attention on CPU, vocabulary logits only at completion tokens) against a
plain fp32 Hugging Face Trainer (the model as `from_pretrained` loads it, random order, padding to
the batch's longest row, the model's own loss), on the same ETD rows, the same model, batch size,
optimizer and number of steps, in one run.

Throughput is real (non-padding) tokens per second of training, as Trainer counts them.

    python benchmarks/train_speed.py [--steps 20] [--batch-size 16] [--out results/train_speed.json]

Run it with nothing else busy on the machine: two heavy jobs on 2 cores slow each other several-fold.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

from mathdistill.distill import trainer as student_trainer
from mathdistill.distill.student import is_seq2seq, load_tokenizer, use_bf16
from mathdistill.distill.train import TrainConfig, encode, load_rows, row_prompt
from mathdistill.models import resolve_hf


def sample_items(data: str, rows: int, tokenizer, max_len: int, seed: int) -> list[dict]:
    """A fixed random sample of ETD rows over all thoughts, encoded as training items."""
    all_rows = load_rows([data], ["cot", "pot", "eot"])
    picked = random.Random(seed).sample(all_rows, min(rows, len(all_rows)))
    return [encode(tokenizer, row_prompt(r), r["completion"], False, max_len) for r in picked]


def measure(trainer) -> dict:
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    tokens = int(trainer.state.num_input_tokens_seen)
    return {"steps": trainer.state.global_step, "tokens": tokens, "seconds": round(seconds, 2),
            "tokens_per_second": round(tokens / seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--data", default="runs/gold_etd_svamp/etd.jsonl")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="write the result as JSON here")
    args = ap.parse_args()

    from transformers import AutoModelForCausalLM, DataCollatorForSeq2Seq, Trainer, TrainingArguments

    model_dir = resolve_hf(args.model)
    if is_seq2seq(model_dir):
        raise SystemExit("this benchmark measures causal students")
    tokenizer = load_tokenizer(model_dir)
    cfg = TrainConfig(model=args.model, batch_size=args.batch_size, max_steps=args.steps, lr=1e-4, seed=args.seed)
    # Both runs draw the same rows; the sample is large enough that neither run repeats a row.
    items = sample_items(args.data, args.steps * args.batch_size, tokenizer, cfg.max_len, args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(args.seed)
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        plain_args = TrainingArguments(output_dir=tmp, per_device_train_batch_size=args.batch_size, max_steps=args.steps,
                                       learning_rate=1e-4, use_cpu=not torch.cuda.is_available(), report_to="none",
                                       save_strategy="no", remove_unused_columns=False, seed=args.seed,
                                       include_num_input_tokens_seen="non_padding", disable_tqdm=True)
        plain = Trainer(model=model, args=plain_args, train_dataset=student_trainer.RowsDataset(items),
                        data_collator=DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=-100))
        baseline = measure(plain)
        del model, plain

        torch.manual_seed(args.seed)
        model, _ = student_trainer.load_student_for_training(model_dir, cfg)
        ours_args = student_trainer.training_arguments(cfg, tmp, save_strategy="no", disable_tqdm=True)
        ours_trainer = student_trainer.make_student_trainer(
            model=model, args=ours_args, train_dataset=student_trainer.RowsDataset(items),
            data_collator=student_trainer.Collator(tokenizer.pad_token_id), processing_class=tokenizer)
        ours = measure(ours_trainer)

    ratio = ours["tokens_per_second"] / baseline["tokens_per_second"]
    result = {"benchmark": "train_speed", "command": "python " + " ".join(sys.argv), "model": args.model, "batch_size": args.batch_size, "steps": args.steps,
              "rows": len(items), "bf16": use_bf16(cfg.bf16), "length_grouped": cfg.group_by_length,
              "attention": model.config._attn_implementation,
              "completion_logits_only": bool(getattr(ours_trainer, "fast_loss", False)),
              "baseline_optimizer": str(plain_args.optim.value), "ours_optimizer": str(ours_trainer.args.optim.value),
              "baseline_fp32_plain_trainer": baseline, "ours": ours, "speedup": round(ratio, 2),
              "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
              "torch": torch.__version__, "load_average": os.getloadavg()}
    print(f"plain fp32 Trainer: {baseline['tokens_per_second']:.0f} tokens/s ({baseline['seconds']} s)")
    print(f"ours (bf16={result['bf16']}, length-grouped): {ours['tokens_per_second']:.0f} tokens/s ({ours['seconds']} s)")
    print(f"speedup: {ratio:.2f}x")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
