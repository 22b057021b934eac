"""The issue-#6 experiment: teacher, compressed teacher and student variants, each with a GTS decoder.

    prepare  encode every question once with the pre-trained teacher (the hidden states entering its
             top ``finetune_layers`` layers and its last hidden states), cached on disk in parts so a
             killed job resumes; train the stage-1 student once over the stage-1 corpus (questions
             of English training sets that overlap no evaluation set), also cached.
    per task (TRAIN_SPEC>EVAL_SPEC; one JSON file each under ``out_dir/tasks``, written after every
             row, so a rerun skips finished rows and tasks, adding variants to a finished task costs
             only them (and the teacher fine-tuning stage 2 reads), and ``shard: i/n`` splits the
             tasks between processes):
      1. "teacher (frozen)": a GTS decoder on the frozen teacher vectors;
      2. "teacher (fine-tuned)": the same decoder, training continued with the teacher's top layers
         unfrozen (run on the cached hidden states below them, so a step costs those layers only);
      3. "teacher-compressed-D": a fresh decoder on the fine-tuned teacher's vectors compressed to D;
      4. students (embeddings + 3 layers, 256-d), one per variant: none (from scratch), stage1 (the
         cached stage-1 student), stage2 (MSE onto the compressed fine-tuned teacher's vectors of
         the task's training questions), both (stage 1 then stage 2); then student + a fresh GTS
         decoder are trained on the task;
      5. encoding speed of teacher and student (questions/s) in the same process.
    aggregate: ``main.{json,md,png}`` from every finished task file.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from mathdistill import datasets
from mathdistill.datasets.text import normalise_question

from .compress import make_compressor
from .distill import DistillConfig, distill
from .examples import Example, make_examples
from .gts import GTSDecoder, Vocab
from .solver import Solver, TrainConfig, encode_examples, evaluate_solver, sentences_per_second, train_solver
from .student import StudentConfig, StudentEncoder
from .teacher import TopLayers, count_parameters, hidden_states, load_teacher

VARIANTS = ("none", "stage1", "stage2", "both")


@dataclass
class ExperimentConfig:
    teacher: str = "all-mpnet-base-v2"
    # "TRAIN_SPEC>EVAL_SPEC", e.g. "asdiv-a:cv0-train>asdiv-a:cv0-dev", "mawps-asdiv-a:train>svamp:test"
    tasks: list[str] = field(default_factory=lambda: ["asdiv-a:cv0-train>asdiv-a:cv0-dev"])
    compressor: str = "linear"
    dim: int = 256
    fit_tokens: int = 30000  # token vectors each compressor is fitted on
    gts_hidden: int = 256
    dropout: float = 0.3
    batch_size: int = 32
    lr: float = 1e-3  # GTS decoder learning rate (cosine schedule)
    min_constant_count: int = 5  # constants used by fewer training equations are left out of the vocabulary
    teacher_epochs: int = 30  # GTS on frozen teacher vectors
    finetune_layers: int = 2  # top teacher layers trained in the fine-tuning phase
    finetune_epochs: int = 3
    finetune_lr: float = 3e-5
    compressed_epochs: int = 30
    student_epochs: int = 30
    student_lr: float = 5e-4  # student encoder learning rate during task training (all variants alike)
    # ... unless this is set: the rate for distilled students (stage1 / stage2 / both), which then move
    # slowly, like the pre-trained teacher in its fine-tuning, and keep more of what they were taught
    distilled_student_lr: float | None = None
    # stage 1: questions only (no labels), guarded against every evaluation split of `tasks`
    stage1_corpus: list[str] = field(default_factory=lambda: ["gsm8k:train", "asdiv:test", "multiarith:test"])
    stage1_limit: int | None = None
    stage1_epochs: int = 10
    stage2_epochs: int = 20
    distill_lr: float = 1e-3
    distill_batch_size: int = 32
    variants: list[str] = field(default_factory=lambda: ["none", "both"])
    ablation_tasks: list[str] = field(default_factory=list)  # tasks that also run `ablation_variants`
    ablation_variants: list[str] = field(default_factory=lambda: ["stage1", "stage2"])
    train_limit: int | None = None  # first N training problems (tests / quick runs)
    eval_limit: int | None = None
    speed_sentences: int = 200
    threads: int = 1
    bf16: bool = False  # encoders (student, teacher top layers) under bf16 autocast when training / re-encoding
    shard: str = "0/1"  # "i/n": this process runs its share of the tasks (aggregate sees them all)
    # run just these of `tasks` (e.g. to re-balance a run by hand); `tasks` as a whole still decides
    # the stage-1 corpus guard, so the cached stage-1 student stays the same
    only: list[str] = field(default_factory=list)
    seed: int = 0
    cache_dir: str = "runs/encoder_kd/cache"
    out_dir: str = "results/encoder_kd"

    def __post_init__(self) -> None:
        for v in [*self.variants, *self.ablation_variants]:
            if v not in VARIANTS:
                raise ValueError(f"unknown student variant {v!r}; choose from {', '.join(VARIANTS)}")
        for task in [*self.tasks, *self.ablation_tasks]:
            parse_task(task)
        if unknown := [t for t in self.only if t not in self.tasks]:
            raise ValueError(f"only: {', '.join(unknown)} not among the configured tasks")
        i, _, n = self.shard.partition("/")
        if not (i.isdigit() and n.isdigit() and int(i) < int(n)):
            raise ValueError(f"shard {self.shard!r} is not i/n with 0 <= i < n")


def parse_task(task: str) -> tuple[str, str]:
    train, sep, test = task.partition(">")
    if not sep:
        raise ValueError(f"task {task!r} is not TRAIN_SPEC>EVAL_SPEC (e.g. asdiv-a:cv0-train>asdiv-a:cv0-dev)")
    return train.strip(), test.strip()


def task_slug(task: str) -> str:
    return task.replace(">", "_to_").replace(":", "-")


@dataclass
class Task:
    name: str
    train: list[Example]
    test: list[Example]
    vocab: Vocab
    skipped: list[str]
    eval_dropped: int  # evaluation problems the decoder cannot represent at all (counted as misses)


def load_task(task: str, tokenizer, train_limit: int | None = None, eval_limit: int | None = None,
              min_constant_count: int = 1) -> Task:
    train_spec, eval_spec = parse_task(task)
    train, skipped = make_examples(datasets.load(train_spec)[:train_limit], tokenizer)
    max_slots = max(len(e.problem.numbers) for e in train)
    vocab = Vocab.from_targets([e.prefix for e in train], max_slots, min_constant_count)
    train, skipped_train = make_examples([e.problem for e in train], tokenizer, vocab)
    problems = datasets.load(eval_spec)[:eval_limit]
    test, skipped_test = make_examples(problems, tokenizer, vocab, keep_unencodable=True)
    return Task(task, train, test, vocab, skipped + skipped_train + skipped_test, len(problems) - len(test))


@contextmanager
def _locked(path: Path, wait: bool = True):
    """An exclusive lock on ``path`` (shards of one run share the cache; one of them fills it),
    released on exit or when the process dies. Yields whether it is held: always once it is
    taken when waiting; without waiting, False when another process has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _key(input_ids: list[int]) -> str:
    return hashlib.sha1(torch.tensor(input_ids, dtype=torch.int32).numpy().tobytes()).hexdigest()


class TeacherCache:
    """Pre-trained teacher states per question, keyed by its token ids, on disk in parts.

    ``final`` is the last hidden state; ``base`` (only where asked) the state entering the top
    ``below_top`` layers, which fine-tuning those layers starts from.  Parts are written every
    ``part_size`` questions, so a killed encoding job loses at most one part.  float16 on disk.
    """

    def __init__(self, teacher_name: str, encoder, pad_id: int, cache_dir: str, below_top: int,
                 part_size: int = 512, log=print) -> None:
        self.encoder, self.pad_id, self.below_top, self.part_size, self.log = encoder, pad_id, below_top, part_size, log
        self.dir = Path(cache_dir) / f"{teacher_name.replace('/', '_')}-top{below_top}"
        self.final: dict[str, torch.Tensor] = {}
        self.base: dict[str, torch.Tensor] = {}
        self._loaded: set[str] = set()
        self._load_parts()

    def _load_parts(self) -> None:
        for part in sorted(self.dir.glob("part-*.pt")):
            if part.name not in self._loaded:
                data = torch.load(part)
                self.final.update(data["final"])
                self.base.update(data["base"])
                self._loaded.add(part.name)

    def _todo(self, examples: list[Example], with_base: bool) -> list[Example]:
        todo, seen = [], set()
        for e in examples:
            k = _key(e.input_ids)
            if k not in seen and (k not in self.final or (with_base and k not in self.base)):
                todo.append(e)
                seen.add(k)
        return todo

    def ensure(self, examples: list[Example], with_base: bool, batch_size: int = 32) -> None:
        if not self._todo(examples, with_base):
            return
        with _locked(self.dir / ".lock"):
            self._load_parts()  # another shard may have encoded them while we waited
            todo = self._todo(examples, with_base)
            if todo:
                self._encode(todo, with_base, batch_size)

    def _encode(self, todo: list[Example], with_base: bool, batch_size: int) -> None:
        from tqdm import tqdm

        self.encoder.eval()
        todo.sort(key=lambda e: len(e.input_ids))  # similar lengths batch with little padding
        start, n_parts = time.time(), len(list(self.dir.glob("part-*.pt")))
        bar = tqdm(total=len(todo), desc="teacher encoding", unit="q")
        for lo in range(0, len(todo), self.part_size):
            part: dict[str, dict[str, torch.Tensor]] = {"final": {}, "base": {}}
            for b in range(lo, min(lo + self.part_size, len(todo)), batch_size):
                chunk = todo[b : b + batch_size]
                length = max(len(e.input_ids) for e in chunk)
                ids = torch.full((len(chunk), length), self.pad_id, dtype=torch.long)
                mask = torch.zeros_like(ids)
                for i, e in enumerate(chunk):
                    ids[i, : len(e.input_ids)] = torch.tensor(e.input_ids)
                    mask[i, : len(e.input_ids)] = 1
                base, final = hidden_states(self.encoder, ids, mask, self.below_top)
                for i, e in enumerate(chunk):
                    k, n = _key(e.input_ids), len(e.input_ids)
                    part["final"][k] = final[i, :n].half().clone()
                    if with_base:
                        part["base"][k] = base[i, :n].half().clone()
                bar.update(len(chunk))
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self.dir / f"part-{n_parts:05d}.pt.tmp"
            torch.save(part, tmp)
            tmp.rename(self.dir / f"part-{n_parts:05d}.pt")
            self._loaded.add(f"part-{n_parts:05d}.pt")
            n_parts += 1
            self.final.update(part["final"])
            self.base.update(part["base"])
        bar.close()
        self.log(f"teacher encoded {len(todo)} questions in {time.time() - start:.0f}s")

    def vectors(self, examples: list[Example], which: str = "final") -> list[torch.Tensor]:
        store = self.final if which == "final" else self.base
        return [store[_key(e.input_ids)] for e in examples]


def cached_vectors(teacher_name: str, encoder, examples: list[Example], pad_id: int, cache_dir: str,
                   log=print, below_top: int = 2) -> list[torch.Tensor]:
    """Pre-trained teacher vectors (last hidden states) of ``examples``, through the shared cache."""
    cache = TeacherCache(teacher_name, encoder, pad_id, cache_dir, below_top, log=log)
    cache.ensure(examples, with_base=False)
    return cache.vectors(examples)


def with_vectors(examples: list[Example], vectors: list[torch.Tensor]) -> list[Example]:
    return [Example(e.problem, e.input_ids, e.num_pos, e.prefix, e.target, v) for e, v in zip(examples, vectors)]


def compress_all(compressor, vectors: list[torch.Tensor]) -> list[torch.Tensor]:
    flat = torch.cat(vectors).float().numpy()
    out = torch.from_numpy(compressor.transform(flat))
    return list(out.split([len(v) for v in vectors]))


def fit_compressor(cfg: ExperimentConfig, vectors: list[torch.Tensor]):
    flat = torch.cat(vectors).float()
    if len(flat) > cfg.fit_tokens:
        flat = flat[torch.randperm(len(flat), generator=torch.Generator().manual_seed(cfg.seed))[: cfg.fit_tokens]]
    return make_compressor(cfg.compressor, cfg.dim, cfg.seed).fit(flat.numpy())


def stage1_examples(cfg: ExperimentConfig, tokenizer, tasks: list[Task]) -> list[Example]:
    """The stage-1 corpus as label-free examples, minus any question of an evaluation split."""
    guard = {normalise_question(e.problem.question) for t in tasks for e in t.test}
    problems = [p for spec in cfg.stage1_corpus for p in datasets.load(spec)
                if normalise_question(p.question) not in guard][: cfg.stage1_limit]
    out = []
    for p in problems:
        ids = tokenizer(p.question, truncation=True, max_length=160)["input_ids"]
        out.append(Example(p, ids, [], [], []))
    return out


class Prepared:
    """What every task of a run shares: tokenizer, teacher, cache, the stage-1 student."""

    def __init__(self, cfg: ExperimentConfig, log=print) -> None:
        torch.set_num_threads(cfg.threads)
        self.cfg = cfg
        self.tokenizer, self.teacher = load_teacher(cfg.teacher)
        self.pad = self.tokenizer.pad_token_id
        self.top_snapshot = copy.deepcopy(TopLayers(self.teacher, cfg.finetune_layers).state_dict())
        self.tasks = {t: load_task(t, self.tokenizer, cfg.train_limit, cfg.eval_limit, cfg.min_constant_count)
                      for t in cfg.tasks}
        self.cache = TeacherCache(cfg.teacher, self.teacher, self.pad, cfg.cache_dir, cfg.finetune_layers, log=log)
        for task in self.tasks.values():
            self.cache.ensure(task.train + task.test, with_base=True)
        self.student_cfg = StudentConfig(vocab_size=len(self.tokenizer), pad_id=self.pad)
        self.log = log
        self._stage1: tuple[dict, list[float]] | None = None

    @property
    def needs_stage1(self) -> bool:
        return any(v in ("stage1", "both") for v in [*self.cfg.variants, *self.cfg.ablation_variants])

    def stage1(self) -> tuple[dict, list[float]]:
        """The stage-1 student's weights and loss curve: trained on first use, cached on disk, and
        shared between shards (the first to need it trains it; the others wait and load it)."""
        if self._stage1 is None:
            with _locked(Path(self.cfg.cache_dir) / ".lock-stage1"):
                self._stage1 = self._train_stage1(self.log)
        return self._stage1

    def _train_stage1(self, log) -> tuple[dict, list[float]]:
        cfg = self.cfg
        corpus = stage1_examples(cfg, self.tokenizer, list(self.tasks.values()))
        spec = {k: getattr(cfg, k) for k in ("teacher", "stage1_corpus", "stage1_limit", "stage1_epochs", "distill_lr",
                                             "distill_batch_size", "compressor", "dim", "fit_tokens", "seed", "bf16")}
        spec["guard"] = sorted(parse_task(t)[1] for t in cfg.tasks)
        digest = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
        path = Path(cfg.cache_dir) / f"stage1-{digest}.pt"
        if path.exists():
            saved = torch.load(path)
            log(f"stage 1: cached student {path}")
            return saved["state"], saved["losses"]
        self.cache.ensure(corpus, with_base=False)
        pre = self.cache.vectors(corpus)
        targets = compress_all(fit_compressor(cfg, pre), pre)
        torch.manual_seed(cfg.seed)
        student = StudentEncoder(self.student_cfg)
        log(f"stage 1: {len(corpus)} questions of {', '.join(cfg.stage1_corpus)}")
        losses = distill(student, with_vectors(corpus, pre), targets,
                         DistillConfig(cfg.stage1_epochs, cfg.distill_batch_size, cfg.distill_lr, cfg.seed, cfg.bf16), self.pad, log=log)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state": student.state_dict(), "losses": losses, "spec": spec, "n": len(corpus)}, path)
        return student.state_dict(), losses


def run_task(prep: Prepared, task_name: str, variants: list[str], log=print) -> dict:
    cfg, pad, teacher = prep.cfg, prep.pad, prep.teacher
    task = prep.tasks[task_name]
    train, test = task.train, task.test
    log(f"{task_name}: {len(train)} train, {len(test)} eval examples ({task.eval_dropped} eval problems the "
        f"decoder cannot represent count as misses), {len(task.skipped)} notes, vocab {task.vocab.tokens}")
    torch.manual_seed(cfg.seed)
    top = TopLayers(teacher, cfg.finetune_layers)
    top.load_state_dict(prep.top_snapshot)  # every task fine-tunes from the pre-trained teacher

    def tc(epochs: int) -> TrainConfig:
        return TrainConfig(epochs=epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed)

    out = Path(cfg.out_dir) / "tasks"
    out.mkdir(parents=True, exist_ok=True)
    digest = rows_digest(cfg)
    earlier = load_task_file(out, task_name, digest)
    rows: dict[str, dict] = dict(earlier.get("rows", {}))
    losses: dict[str, dict[str, list[float]]] = dict(earlier.get("distill_losses", {}))
    rebuilt: dict[str, dict] = dict(earlier.get("rebuilt", {}))  # teachers retrained for stage 2: new scores
    if rows:
        log(f"{task_name}: resuming, {len(rows)} rows done earlier ({', '.join(rows)})")
    speed = earlier.get("speed")
    if speed is None:
        speed_examples = test[: cfg.speed_sentences]
        speed = {"teacher": sentences_per_second(teacher, speed_examples, pad),
                 "student": sentences_per_second(StudentEncoder(prep.student_cfg), speed_examples, pad),
                 "load_average": os.getloadavg(), "sentences": len(speed_examples), "threads": torch.get_num_threads()}
        log(f"speed: {speed}")

    def result(done: bool) -> dict:
        return {"task": task_name, "n_train": len(train), "n_eval": len(test) + task.eval_dropped,
                "eval_dropped": task.eval_dropped, "skipped": task.skipped, "rows": rows, "speed": speed,
                "distill_losses": losses, "rebuilt": rebuilt, "rows_digest": digest, "complete": done}

    compressed_row = f"teacher-compressed-{cfg.dim} ({cfg.compressor})"
    missing_variants = [v for v in variants if f"student ({v})" not in rows]
    # the fine-tuned teacher is rebuilt when a row it feeds is missing (its own, the compressed
    # teacher's, or a student distilled in stage 2); rows already measured are kept, not re-recorded
    need_teacher = ("teacher (frozen)" not in rows or "teacher (fine-tuned)" not in rows
                    or compressed_row not in rows or any(v in ("stage2", "both") for v in missing_variants))

    def record(name: str, solver: Solver, seconds: float, params: int, examples: list[Example]) -> None:
        scores = evaluate_solver(solver, examples, pad, extra_misses=task.eval_dropped)
        if name in rows:  # a teacher retrained for stage 2: its row stays, its new score is kept beside it
            rebuilt[name] = asdict(scores)
            log(f"{task_name} {name} (retrained for stage 2): answer {scores.answer_acc:.3f}, "
                f"kept row {rows[name]['answer_acc']:.3f}")
            return
        rows[name] = {**asdict(scores), "params": params, "train_seconds": round(seconds, 1)}
        log(f"{task_name} {name}: equation {scores.equation_acc:.3f} answer {scores.answer_acc:.3f}")
        (out / f"{task_slug(task_name)}.partial.json").write_text(json.dumps(result(False), indent=1, default=float))

    stage2_targets = None
    if need_teacher:
        pre_train, pre_test = prep.cache.vectors(train), prep.cache.vectors(test)
        base_train, base_test = prep.cache.vectors(train, "base"), prep.cache.vectors(test, "base")

        torch.manual_seed(cfg.seed)  # the same initialisation whether the task is new or resumed
        solver = Solver(GTSDecoder(teacher.dim, task.vocab, cfg.gts_hidden, cfg.dropout))
        h = train_solver(solver, with_vectors(train, pre_train), tc(cfg.teacher_epochs), pad, log=log)
        record("teacher (frozen)", solver, h.seconds, count_parameters(teacher), with_vectors(test, pre_test))

        solver.encoder, solver.bf16 = top, cfg.bf16  # the decoder continues, now with the top layers learning too
        h2 = train_solver(solver, with_vectors(train, base_train), tc(cfg.finetune_epochs), pad,
                          encoder_lr=cfg.finetune_lr, log=log)
        record("teacher (fine-tuned)", solver, h.seconds + h2.seconds, count_parameters(teacher),
               with_vectors(test, base_test))
        ft_train = encode_examples(top, with_vectors(train, base_train), pad, bf16=cfg.bf16)

        comp = fit_compressor(cfg, ft_train)  # fine-tuning moved the vectors: fitted on the fine-tuned ones
        stage2_targets = compress_all(comp, ft_train)
        if compressed_row not in rows:
            ft_test = encode_examples(top, with_vectors(test, base_test), pad, bf16=cfg.bf16)
            solver = Solver(GTSDecoder(cfg.dim, task.vocab, cfg.gts_hidden, cfg.dropout))
            h = train_solver(solver, with_vectors(train, stage2_targets), tc(cfg.compressed_epochs), pad, log=log)
            record(compressed_row, solver, h.seconds, count_parameters(teacher),
                   with_vectors(test, compress_all(comp, ft_test)))

    for variant in missing_variants:
        torch.manual_seed(cfg.seed)
        student = StudentEncoder(prep.student_cfg)
        losses[variant] = {}
        start = time.time()
        if variant in ("stage1", "both"):
            student.load_state_dict(prep.stage1()[0])
        if variant in ("stage2", "both"):
            losses[variant]["stage2"] = distill(student, train, stage2_targets, DistillConfig(
                cfg.stage2_epochs, cfg.distill_batch_size, cfg.distill_lr, cfg.seed, cfg.bf16), pad, log=log)
        solver = Solver(GTSDecoder(student.dim, task.vocab, cfg.gts_hidden, cfg.dropout), student, cfg.bf16)
        lr = cfg.student_lr if variant == "none" or cfg.distilled_student_lr is None else cfg.distilled_student_lr
        h = train_solver(solver, train, tc(cfg.student_epochs), pad, encoder_lr=lr, log=log)
        losses[variant]["task"] = h.losses
        record(f"student ({variant})", solver, time.time() - start, count_parameters(student), test)
        if variant == "both" or "both" not in variants:  # the probe study reads this encoder
            torch.save({"config": asdict(prep.student_cfg), "state": student.state_dict(), "variant": variant},
                       Path(cfg.cache_dir) / f"student-{task_slug(task_name)}.pt")

    stage1_losses = prep.stage1()[1] if any(v in ("stage1", "both") for v in variants) else []
    final = {**result(True), "stage1_losses": stage1_losses}
    (out / f"{task_slug(task_name)}.json").write_text(json.dumps(final, indent=1, default=float))
    (out / f"{task_slug(task_name)}.partial.json").unlink(missing_ok=True)
    return final


# fields that change no row's numbers: which tasks and variants run where, paths, threads
_NOT_IN_ROWS = {"tasks", "variants", "ablation_tasks", "ablation_variants", "shard", "only", "threads",
                "speed_sentences", "cache_dir", "out_dir"}


# fields added after results were committed: at these defaults they leave the digest as it was
_ADDED_LATER = {"distilled_student_lr": None}


def rows_digest(cfg: ExperimentConfig) -> str:
    """What a task file's rows depend on; a rerun reuses rows only from a file with the same digest."""
    spec = {k: v for k, v in asdict(cfg).items()
            if k not in _NOT_IN_ROWS and not (k in _ADDED_LATER and v == _ADDED_LATER[k])}
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def task_variants(cfg: ExperimentConfig, task: str) -> list[str]:
    extra = cfg.ablation_variants if task in cfg.ablation_tasks else []
    return [v for v in VARIANTS if v in cfg.variants or v in extra]


def task_file(out: Path, task: str) -> Path | None:
    """The task's newest file: the unfinished one if there is one (a resumed task's rows are a
    superset of its finished file's), else the finished one; None when there is neither."""
    return next((p for p in (out / f"{task_slug(task)}.partial.json", out / f"{task_slug(task)}.json")
                 if p.exists()), None)


def load_task_file(out: Path, task: str, digest: str) -> dict:
    """The task's rows so far ({} when none); a file written under a different config is an error
    rather than silently mixed in."""
    path = task_file(out, task)
    if path is None:
        return {}
    data = json.loads(path.read_text())
    if data.get("rows_digest") != digest:
        raise ValueError(f"{path} was written under another config (rows digest "
                         f"{data.get('rows_digest')}, this config {digest}): move it away or use another out_dir")
    return data


def my_tasks(cfg: ExperimentConfig) -> list[str]:
    """This shard's tasks: longest-processing-time-first over (training problems x models trained),
    so shards finish at about the same time; every shard computes the same assignment."""
    i, n = (int(x) for x in cfg.shard.split("/"))
    cost = {}
    for task in cfg.tasks:
        cost[task] = len(datasets.load(parse_task(task)[0])[: cfg.train_limit]) * (3 + len(task_variants(cfg, task)))
    loads, mine = [0] * n, []
    for task in sorted(cfg.tasks, key=lambda t: (-cost[t], cfg.tasks.index(t))):
        shard = loads.index(min(loads))
        loads[shard] += cost[task]
        if shard == i:
            mine.append(task)
    return mine


def aggregate(cfg: ExperimentConfig) -> dict:
    """main.{json,md,png} from the task files of ``cfg.tasks``: finished ones, and the rows so far of
    unfinished ones (marked ``complete: false``); tasks with no row yet are listed as missing."""
    from .report import main_table, plot_main

    out = Path(cfg.out_dir)
    done, missing = [], []
    for task in cfg.tasks:
        path = task_file(out / "tasks", task)
        if path is None:
            missing.append(task)
        else:
            done.append(json.loads(path.read_text()))
    results = {"config": asdict(cfg), "tasks": done, "missing_tasks": missing,
               "unfinished_tasks": [t["task"] for t in done if not t.get("complete", True)]}
    (out / "main.json").write_text(json.dumps(results, indent=1, default=float))
    if done:
        (out / "main.md").write_text(main_table(results))
        plot_main(results, out / "main.png")
    return results


def run(cfg: ExperimentConfig, log=print) -> dict:
    prep = Prepared(cfg, log)
    out, digest = Path(cfg.out_dir) / "tasks", rows_digest(cfg)
    for task in (cfg.only or my_tasks(cfg)):
        with _task_lock(cfg, task) as mine:
            if not mine:  # two processes given overlapping `only` lists never train the same task twice
                log(f"{task}: running in another process, skipped")
                continue
            variants = task_variants(cfg, task)
            earlier = load_task_file(out, task, digest)
            if earlier.get("complete") and all(f"student ({v})" in earlier["rows"] for v in variants):
                log(f"{task}: finished earlier, skipped (delete its file under {out} to rerun)")
                continue
            run_task(prep, task, variants, log)
    return aggregate(cfg)



def _task_lock(cfg: ExperimentConfig, task: str):
    """The lock of (out_dir, task), taken without waiting; lock files live in the cache, not among the results."""
    key = hashlib.sha1(str(Path(cfg.out_dir).resolve()).encode()).hexdigest()[:8]
    return _locked(Path(cfg.cache_dir) / "locks" / f"{key}-{task_slug(task)}.lock", wait=False)
