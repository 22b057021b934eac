"""How big a demo this machine can run: a pure function of the measured training speed (tokens/s),
the tokens per training problem, and the time budget (see `demo` for the whole story)."""

from __future__ import annotations

from dataclasses import dataclass

EVAL_SPLIT = "svamp:test"  # where the demo's student is evaluated

# problems/s of the llama.cpp backend (f16, 16 sequences per batch) over the batched transformers one,
# measured by benchmarks/backend_speed.py (results/backends/speed.json) on an AVX2-only 2-core EPYC
LLAMACPP_SPEEDUP = 2.2  # 2.24 measured (f16, 16 sequences per batch, 40 SVAMP problems x 3 thoughts)


@dataclass(frozen=True)
class Limits:
    full_train: int = 400  # today's demo: 400 problems, 2 epochs, 100 evaluation problems
    epochs: int = 2
    full_eval: int = 100
    min_train: int = 70  # the floor (see the module docstring)
    min_eval: int = 50
    fit_tolerance: float = 1.1  # today's size is kept when it takes at most 10% more than the budget
    round_to: int = 10
    eval_seconds_fixed: float = 0.95  # transformers evaluation s/problem = fixed + per_rate / (training tokens/s)
    eval_seconds_per_rate: float = 89.0
    llamacpp_speedup: float = LLAMACPP_SPEEDUP  # the llama.cpp backend's problems/s over transformers'
    overhead_seconds: float = 30.0  # data, model loading, report
    # a whole training run's tokens/s over the probe's (its median-length batch): short batches run
    # less efficiently, and saving, logging and the schedule add to every step. Measured in two demos:
    # planned 581 s / took 734 s (Xeon limited to AVX2, 0.79), planned 594 s / took 774 s (EPYC, 0.77)
    train_efficiency: float = 0.77


LIMITS = Limits()


@dataclass(frozen=True)
class DemoPlan:
    train_problems: int
    epochs: int
    eval_problems: int
    train_seconds: float  # predicted
    eval_seconds: float  # predicted
    tokens_per_second: float | None  # measured (None: sizes given, nothing measured)
    tokens_per_problem: float
    budget_minutes: float
    why: str  # how the training size was chosen: "full", "budget", "floor", "given"
    backend: str = "transformers"  # the evaluation's backend the estimate is for


def eval_seconds_per_problem(tokens_per_second: float, limits: Limits | None = None,
                             backend: str = "transformers") -> float:
    """Estimated evaluation seconds per problem (three generations) on a machine that trains at
    `tokens_per_second`: fitted to two demos evaluated with transformers, divided by the measured
    speed-up of the llama.cpp backend where that is the one used."""
    limits = limits or LIMITS
    seconds = limits.eval_seconds_fixed + limits.eval_seconds_per_rate / tokens_per_second
    return seconds / limits.llamacpp_speedup if backend == "llamacpp" else seconds


def plan_demo(tokens_per_second: float, tokens_per_problem: float, budget_minutes: float, *,
              total_minutes: float = 15.0, measure_seconds: float = 0.0, train_problems: int | None = None,
              epochs: int | None = None, eval_problems: int | None = None,
              limits: Limits | None = None, backend: str = "transformers") -> DemoPlan:
    """The demo's size for a machine that trains at `tokens_per_second` (real tokens, prompt included, as
    the trainer counts them) on problems of `tokens_per_problem` (all three thoughts). Explicit sizes
    are kept; the others are chosen as the module docstring says."""
    if tokens_per_second <= 0 or tokens_per_problem <= 0:
        raise ValueError("tokens_per_second and tokens_per_problem must be > 0")
    limits = limits or LIMITS
    step = limits.round_to
    epochs = epochs or limits.epochs
    effective = tokens_per_second * limits.train_efficiency  # what a whole run achieves
    if train_problems is not None:
        problems, why = train_problems, "given"
    else:
        fits = budget_minutes * 60 * effective / (epochs * tokens_per_problem)  # problems in budget
        if fits * limits.fit_tolerance >= limits.full_train:
            problems, why = limits.full_train, "full"
        elif fits >= limits.min_train:
            problems, why = max(limits.min_train, int(fits // step) * step), "budget"
        else:
            problems, why = limits.min_train, "floor"
    train_seconds = problems * epochs * tokens_per_problem / effective
    per_problem = eval_seconds_per_problem(tokens_per_second, limits, backend)
    if eval_problems is None:
        left = total_minutes * 60 - train_seconds - measure_seconds - limits.overhead_seconds
        eval_problems = int(max(left, 0) / per_problem // step) * step
        eval_problems = min(limits.full_eval, max(limits.min_eval, eval_problems))
    return DemoPlan(train_problems=problems, epochs=epochs, eval_problems=eval_problems,
                    train_seconds=round(train_seconds, 1), eval_seconds=round(eval_problems * per_problem, 1),
                    tokens_per_second=round(tokens_per_second, 1), tokens_per_problem=round(tokens_per_problem, 1),
                    budget_minutes=budget_minutes, why=why, backend=backend)


def given_plan(cfg, limits: Limits | None = None) -> DemoPlan:
    """All three sizes given in `cfg` (a DemoConfig): nothing to measure or predict."""
    limits = limits or LIMITS
    return DemoPlan(train_problems=cfg.train_problems or limits.full_train, epochs=cfg.epochs or limits.epochs,
                    eval_problems=cfg.eval_problems or limits.full_eval, train_seconds=0.0, eval_seconds=0.0,
                    tokens_per_second=None, tokens_per_problem=0.0, budget_minutes=cfg.budget_minutes, why="given")


def _minutes(seconds: float) -> str:
    m = seconds / 60
    return f"{m:.0f} minute{'s' if round(m) != 1 else ''}" if m >= 1.5 else f"{m:.1f} minutes"


def explain(plan: DemoPlan, cpu_class: str, precision: str, limits: Limits | None = None) -> str:
    """'AVX2 only, fp32 at 60 tokens/s: training on 100 problems, 2 epochs, about 12 minutes; ...'."""
    limits = limits or LIMITS
    if plan.tokens_per_second is None:
        return (f"{cpu_class}, {precision}: training on {plan.train_problems} problems, {plan.epochs} "
                f"epoch{'s' if plan.epochs != 1 else ''}, evaluating on {plan.eval_problems} (sizes given, nothing measured)")
    head = (f"{cpu_class}, {precision} at {plan.tokens_per_second:.0f} tokens/s: training on {plan.train_problems} "
            f"problems, {plan.epochs} epoch{'s' if plan.epochs != 1 else ''}, about {_minutes(plan.train_seconds)}")
    budget = f"{plan.budget_minutes:g}-minute training budget"
    full = _minutes(limits.full_train * plan.epochs * plan.tokens_per_problem
                    / (plan.tokens_per_second * limits.train_efficiency))
    why = {"full": f"Today's full demo fits the {budget}.",
           "budget": f"The most that fits the {budget}: today's {limits.full_train} problems would take {full}.",
           "floor": f"The floor of {limits.min_train} problems, over the {budget} (today's {limits.full_train} "
                    f"would take {full}): fewer steps risk a student no better than the untuned model.",
           "given": "Training size given."}[plan.why]
    return (f"{head}; evaluating on {plan.eval_problems} {EVAL_SPLIT} problems with {plan.backend}, about "
            f"{_minutes(plan.eval_seconds)}. {why}")
