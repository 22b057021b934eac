"""The issue-#6 experiment: its config and the two entry points, ``run`` and ``aggregate``.

    prepare  encode every question once with the pre-trained teacher (the hidden states entering its
             top ``finetune_layers`` layers and its last hidden states), cached on disk in parts so a
             killed job resumes; train the stage-1 student once over the stage-1 corpus (questions
             of English training sets that duplicate no evaluation question), also cached
             (prepared.py, teacher_cache.py, stage1_student.py).
    run      per task (TRAIN_SPEC>EVAL_SPEC; one JSON file each under ``out_dir/tasks``, written after
             every row, so a rerun skips finished rows and tasks, adding variants to a finished task
             costs only them (and the teacher fine-tuning stage 2 reads), and ``shard: i/n`` splits the
             tasks between processes): see task_runner.py.
    aggregate  ``main.{json,md,png}`` from every task file (summary.py draws them).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from mathdistill.config import ConfigError

from .prepared import Prepared
from .task_files import load_task_file, rows_digest, task_file, task_lock
from .task_runner import run_task
from .experiment_config import ExperimentConfig, my_tasks, task_variants


def run(cfg: ExperimentConfig, log=print) -> dict:
    """This process's tasks (``only``, else its shard's), each skipped when finished or being trained
    by another process; then ``aggregate``."""
    prep = Prepared(cfg, log)
    out, digest = Path(cfg.out_dir) / "tasks", rows_digest(cfg)
    for task in (cfg.only or my_tasks(cfg)):
        with task_lock(cfg, task) as mine:
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


def aggregate(cfg: ExperimentConfig) -> dict:
    """main.{json,md,png} from the task files of ``cfg.tasks``: finished ones, and the rows so far of
    unfinished ones (marked ``complete: false``); tasks with no row yet are listed as missing."""
    from .summary import main_table, plot_main

    out = Path(cfg.out_dir)
    if not out.is_dir():
        raise ConfigError(f"out_dir {out} does not exist: nothing has run there yet (run `mathdistill encoder-kd "
                          f"run` first, or set out_dir to the directory of a run)")
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
