"""Encoder distillation for math word problems (issue #6; Shen et al. 2025, arXiv 2507.02982).

BERT-class teacher -> compressor (linear | PCA | LLE | MDS) -> 3-layer 256-d student trained by MSE
in two stages -> GTS tree decoder for equations; linear probes for what the vectors keep.

The rooms, one concept each:

    commands.py         the `mathdistill encoder-kd` commands (thin: config in, one call)
    experiment.py       ExperimentConfig; run (this process's tasks), aggregate (main.{json,md,png})
    tasks.py            the task list: "TRAIN_SPEC>EVAL_SPEC" names, their examples, variants, shards
    task_files.py       one JSON file per task under out_dir/tasks, its config digest, the task lock
    prepared.py         what the tasks of a run share: tokenizer, teacher, examples, cache, stage 1
    teacher_cache.py    pre-trained teacher states of every question, on disk in parts
    stage1_student.py   the stage-1 corpus (contamination-guarded) and the cached stage-1 student
    task_runner.py      one task: teacher rows, compressed teacher, the student variants, speed
    kd_stages.py        the MSE distillation loop both stages run
    teacher.py          loading the teacher; its top layers run on cached states
    student_encoder.py  the student: embeddings + 3 transformer layers
    compress.py         compressors with one fit/transform interface, and their quality measures
    examples.py         problems -> token ids, number positions, decoder targets
    prefix.py           equations <-> prefix token lists over number slots and constants
    gts.py              the GTS tree decoder and its vocabulary
    tree_solver.py      encoder + GTS decoder: training, evaluation, encoding speed
    study.py, probes.py the compression study and the POS / NER / quantity-relation probes
    summary.py          Markdown tables and plots of every result
"""
