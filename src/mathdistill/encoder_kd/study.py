"""The compression study (method x dims) and the probe study, on cached pre-trained teacher vectors."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from .compress import Quality, compress_all, cosine_spearman, make_compressor, reconstruction_error
from .examples import with_vectors
from .gts import GTSDecoder
from .probes import PROBES, features, load_spacy, majority_baseline, probe_accuracy, word_labels
from .student_encoder import StudentConfig, StudentEncoder
from .tasks import load_task
from .teacher import load_teacher
from .teacher_cache import cached_vectors
from .tree_solver import Solver, TrainConfig, encode_examples, evaluate_solver, train_solver


@dataclass
class StudyConfig:
    teacher: str = "all-mpnet-base-v2"
    task: str = "asdiv-a:cv0-train>asdiv-a:cv0-dev"
    methods: list[str] = field(default_factory=lambda: ["linear", "pca", "lle", "mds"])
    dims: list[int] = field(default_factory=lambda: [256, 128, 64])
    fit_tokens: int = 20000  # tokens the compressors see (LLE / MDS subsample further)
    manifold_sample: int = 1000  # vectors LLE / MDS are fitted on (their cost grows with its square)
    test_tokens: int = 1500  # held-out tokens for reconstruction error / cosine preservation
    downstream_epochs: int = 0  # >0: train a GTS decoder on each compressed (frozen) representation
    probe_limit: int = 6000  # max probe examples (tokens or number pairs) per split
    students: list[str] = field(default_factory=list)  # student checkpoints (from `run`) to probe
    tag: str = ""  # appended to output file names, so partial studies do not overwrite each other
    train_limit: int | None = None
    eval_limit: int | None = None
    min_constant_count: int = 5  # as in the main experiment
    batch_size: int = 32
    lr: float = 1e-3
    threads: int = 1
    seed: int = 0
    cache_dir: str = "runs/encoder_kd/cache"
    out_dir: str = "results/encoder_kd"


def _setup(cfg: StudyConfig, log):
    torch.set_num_threads(cfg.threads)
    tokenizer, teacher = load_teacher(cfg.teacher)
    task = load_task(cfg.task, tokenizer, cfg.train_limit, cfg.eval_limit, cfg.min_constant_count)
    pad = tokenizer.pad_token_id
    return tokenizer, task, cached_vectors(cfg.teacher, teacher, task.train, pad, cfg.cache_dir, log), \
        cached_vectors(cfg.teacher, teacher, task.test, pad, cfg.cache_dir, log)


def _tokens(vectors: list[torch.Tensor], n: int, seed: int) -> np.ndarray:
    flat = torch.cat(vectors).float().numpy()
    return flat[np.random.default_rng(seed).choice(len(flat), min(n, len(flat)), replace=False)]


def compression_study(cfg: StudyConfig, log=print) -> dict:
    tokenizer, task, pre_train, pre_test = _setup(cfg, log)
    train, test, vocab = task.train, task.test, task.vocab
    x_fit, x_test = _tokens(pre_train, cfg.fit_tokens, cfg.seed), _tokens(pre_test, cfg.test_tokens, cfg.seed)
    rows = []
    for method in cfg.methods:
        for dim in cfg.dims:
            start = time.time()
            compressor = make_compressor(method, dim, cfg.seed, cfg.manifold_sample).fit(x_fit)
            seconds = time.time() - start
            z_fit, z_test = compressor.transform(x_fit[:5000]), compressor.transform(x_test)
            quality = Quality(method, dim, reconstruction_error(x_fit[:5000], z_fit, x_test, z_test),
                              cosine_spearman(x_test[:500], z_test[:500], x_fit.mean(0)), round(seconds, 1))
            row = asdict(quality)
            if cfg.downstream_epochs > 0:
                solver = Solver(GTSDecoder(dim, vocab))
                train_solver(solver, with_vectors(train, compress_all(compressor, pre_train)),
                             TrainConfig(epochs=cfg.downstream_epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed),
                             tokenizer.pad_token_id,
                             log=lambda _: None)
                scores = evaluate_solver(solver, with_vectors(test, compress_all(compressor, pre_test)),
                                         tokenizer.pad_token_id, extra_misses=task.eval_dropped)
                row.update(equation_acc=scores.equation_acc, answer_acc=scores.answer_acc)
            log(f"{row}")
            rows.append(row)
    result = {"config": asdict(cfg), "rows": rows}
    _write(cfg.out_dir, "compression", result, cfg.tag)
    return result


def probe_study(cfg: StudyConfig, log=print) -> dict:
    tokenizer, task, pre_train, pre_test = _setup(cfg, log)
    train, test = task.train, task.test
    nlp = load_spacy()
    labels_train, labels_test = word_labels(train, tokenizer, nlp), word_labels(test, tokenizer, nlp)
    representations: list[tuple[str, int, list[torch.Tensor], list[torch.Tensor]]] = [
        ("teacher", pre_train[0].size(-1), pre_train, pre_test)]
    x_fit = _tokens(pre_train, cfg.fit_tokens, cfg.seed)
    for method in cfg.methods:
        for dim in cfg.dims:
            compressor = make_compressor(method, dim, cfg.seed, cfg.manifold_sample).fit(x_fit)
            representations.append((method, dim, compress_all(compressor, pre_train), compress_all(compressor, pre_test)))
    for path in cfg.students:
        ckpt = torch.load(path)
        student = StudentEncoder(StudentConfig(**ckpt["config"]))
        student.load_state_dict(ckpt["state"])
        pad = tokenizer.pad_token_id
        representations.append((f"student ({ckpt['variant']})", student.dim, encode_examples(student, train, pad),
                                encode_examples(student, test, pad)))
    rows = []
    for name, dim, vec_train, vec_test in representations:
        row: dict = {"representation": name, "dim": dim}
        for probe in PROBES:
            tr = features(vec_train, labels_train, probe, cfg.probe_limit)
            te = features(vec_test, labels_test, probe, cfg.probe_limit)
            row[probe] = probe_accuracy(tr, te)
            row[f"{probe}_majority"] = majority_baseline(tr[1], te[1])
        log(f"{row}")
        rows.append(row)
    result = {"config": asdict(cfg), "rows": rows}
    _write(cfg.out_dir, "probes", result, cfg.tag)
    return result


def _write(out_dir: str, name: str, result: dict, tag: str) -> None:
    from . import summary

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}{tag}.json").write_text(json.dumps(result, indent=1))
    (out / f"{name}{tag}.md").write_text(getattr(summary, f"{name}_table")(result))
    getattr(summary, f"plot_{name}")(result, out / f"{name}{tag}.png")
