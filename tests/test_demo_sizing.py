"""The demo's sizing rule (a pure function of measured tokens/s, tokens per problem and budget), tried
with fake throughputs, and the machine description every result records. No timing here."""

import pytest

from mathdistill import machine
from mathdistill.config import ConfigError, load_config
from mathdistill.demo import DemoConfig, probe_batches
from mathdistill.demo_plan import LIMITS, explain, plan_demo

TPP = 212  # tokens per problem (3 thoughts, prompt included) of the demo's first 400 problems, measured


def test_an_amx_machine_keeps_todays_demo():
    # bf16 on AMX: today's demo trained at 280-298 tokens/s over the whole run (611 s); the probe reads
    # the whole run's rate / train_efficiency
    for run_rate in (298, 280):
        tps = run_rate / LIMITS.train_efficiency
        plan = plan_demo(tps, TPP, budget_minutes=10)
        assert (plan.train_problems, plan.epochs, plan.eval_problems, plan.why) == (400, 2, 100, "full")
        assert plan.train_seconds == pytest.approx(400 * 2 * TPP / run_rate, abs=0.1)


def test_the_plan_is_calibrated_by_what_whole_runs_achieved():
    """The EPYC demo: the probe read 107 tokens/s, the run planned for it took 774 s for 150 x 2 x 212
    tokens; with the calibration the same probe plans fewer problems, within the 10-minute budget."""
    plan = plan_demo(107, TPP, budget_minutes=10)
    assert plan.why == "budget" and plan.train_problems == 110
    assert plan.train_seconds == pytest.approx(110 * 2 * TPP / (107 * LIMITS.train_efficiency), abs=0.1)
    assert plan.train_seconds <= 600 and 150 * 2 * TPP / (107 * LIMITS.train_efficiency) == pytest.approx(772, abs=5)


def test_an_avx2_machine_in_fp32_gets_the_floor_and_a_smaller_evaluation():
    plan = plan_demo(60, TPP, budget_minutes=10, backend="llamacpp", measure_seconds=60)
    assert (plan.train_problems, plan.epochs, plan.why) == (LIMITS.min_train, 2, "floor")
    assert plan.train_seconds == pytest.approx(70 * 2 * TPP / (60 * LIMITS.train_efficiency), abs=0.1)  # ~12 min
    assert LIMITS.min_eval <= plan.eval_problems <= LIMITS.full_eval
    # the whole demo stays within 15 minutes: training + evaluation + overheads
    total = plan.train_seconds + plan.eval_seconds + LIMITS.overhead_seconds + 60  # + ~1 min of measuring
    assert 13 <= total / 60 <= 15
    text = explain(plan, "AVX2 only", "fp32")
    assert text.startswith("AVX2 only, fp32 at 60 tokens/s: training on 70 problems, 2 epochs, about 11 minutes")
    assert "floor" in text and "untuned" in text


def test_a_faster_evaluation_backend_leaves_room_for_more_evaluation_problems():
    slow = plan_demo(60, TPP, budget_minutes=10)
    fast = plan_demo(60, TPP, budget_minutes=10, backend="llamacpp")
    assert (fast.train_problems, fast.epochs) == (slow.train_problems, slow.epochs)  # training is unchanged
    per_problem = LIMITS.eval_seconds_fixed + LIMITS.eval_seconds_per_rate / 60
    assert slow.eval_seconds == pytest.approx(slow.eval_problems * per_problem, abs=0.1)
    assert fast.eval_seconds == pytest.approx(fast.eval_problems * per_problem / LIMITS.llamacpp_speedup, abs=0.1)
    assert fast.eval_problems > slow.eval_problems and fast.backend == "llamacpp"
    assert "problems with llamacpp, about" in explain(fast, "AVX2 only", "fp32")


def test_between_the_two_the_run_fills_the_budget_in_tens():
    for tps in (120, 150, 200, 250):
        plan = plan_demo(tps, TPP, budget_minutes=10)
        assert plan.why == "budget" and plan.epochs == 2
        assert LIMITS.min_train < plan.train_problems < LIMITS.full_train and plan.train_problems % 10 == 0
        assert plan.train_seconds <= 600  # within the budget
        assert plan.train_seconds > 600 - 10 * 2 * TPP / (tps * LIMITS.train_efficiency)  # no more than one step of 10 below it
        assert "The most that fits the 10-minute training budget" in explain(plan, "X", "fp32")


def test_sizes_grow_with_throughput_and_budget():
    plans = [plan_demo(tps, TPP, 10) for tps in range(20, 500, 10)]
    problems = [p.train_problems for p in plans]
    evals = [p.eval_problems for p in plans]
    assert problems == sorted(problems) and problems[0] == LIMITS.min_train and problems[-1] == LIMITS.full_train
    assert evals == sorted(evals) and evals[0] == LIMITS.min_eval and evals[-1] == LIMITS.full_eval
    budgets = [plan_demo(100, TPP, b).train_problems for b in (5, 10, 15, 20, 30, 60)]
    assert budgets == sorted(budgets) and budgets[-1] == LIMITS.full_train  # capped at today's size


def test_explicit_sizes_are_kept():
    plan = plan_demo(60, TPP, 10, train_problems=150, epochs=1, eval_problems=30)
    assert (plan.train_problems, plan.epochs, plan.eval_problems, plan.why) == (150, 1, 30, "given")
    assert plan.train_seconds == pytest.approx(150 * TPP / (60 * LIMITS.train_efficiency), abs=0.1)
    assert plan_demo(60, TPP, 10, epochs=1).train_problems == 130  # sized around a given epoch count


def test_bad_measurements_are_refused():
    with pytest.raises(ValueError):
        plan_demo(0, TPP, 10)
    with pytest.raises(ValueError):
        plan_demo(100, 0, 10)


def test_the_demo_options_are_checked():
    cfg = load_config(DemoConfig, None, {"budget_minutes": "3", "train_problems": 50})
    assert (cfg.budget_minutes, cfg.train_problems, cfg.epochs, cfg.eval_problems) == (3.0, 50, None, None)
    with pytest.raises(ConfigError, match="budget_minutes"):
        load_config(DemoConfig, None, {"budget_minutes": 0})
    with pytest.raises(ConfigError, match="train_problems"):
        load_config(DemoConfig, None, {"train_problems": "many"})


def test_probe_batches_look_like_length_grouped_training():
    lengths = [50 + (i * 37) % 100 for i in range(1000)]
    batches = probe_batches(lengths, batch_size=16, steps=5)
    assert len(batches) == 5 and all(len(b) == 16 for b in batches)
    assert len({i for b in batches for i in b}) == 80  # no row twice
    means = [sum(lengths[i] for i in b) / 16 for b in batches]
    assert means[0] == max(means)  # warm-up on the longest
    assert all(max(lengths[i] for i in b) - min(lengths[i] for i in b) <= 10 for b in batches)  # little padding
    assert probe_batches(lengths[:5], batch_size=16, steps=5) == [[i for i in sorted(range(5), key=lambda i: lengths[i])]]


@pytest.fixture
def fake_cpu(monkeypatch):
    """Pretend /proc/cpuinfo says this (cleared afterwards)."""
    def use(model: str, flags: str):
        monkeypatch.setattr(machine, "_cpuinfo", lambda: (model, frozenset(flags.split())))
    return use


def test_machine_classes(fake_cpu, monkeypatch):
    monkeypatch.delenv(machine.LIMIT_ENV, raising=False)
    fake_cpu("AMD EPYC 7B13", "fpu sse avx avx2 fma")
    assert machine.cpu_class() == "AVX2 only" and not machine.bf16_fast()
    fake_cpu("Intel Xeon", "avx2 fma avx512f avx512_bf16 amx_tile amx_bf16")
    assert machine.cpu_class() == "AMX" and machine.bf16_fast()
    fake_cpu("Intel Xeon", "avx2 avx512f avx512_bf16")
    assert machine.cpu_class() == "avx512_bf16" and machine.bf16_fast()
    fake_cpu("Intel Xeon", "avx2 avx512f")
    assert machine.cpu_class() == "AVX-512 without bf16" and not machine.bf16_fast()
    fake_cpu("Apple M2", "")
    assert machine.cpu_class() == "no AVX2" and machine.cpu_model() == "Apple M2"


def test_features_can_be_limited_to_pretend_an_avx2_machine(fake_cpu, monkeypatch):
    fake_cpu("Intel Xeon", "avx2 fma avx512f avx512_bf16 amx_bf16")
    monkeypatch.setenv(machine.LIMIT_ENV, "avx2,fma,amx_int8")  # can only remove features
    assert machine.cpu_features() == {"amx_bf16": False, "amx_tile": False, "avx512_bf16": False,
                                      "avx512f": False, "avx2": True, "fma": True}
    info = machine.describe(bf16=False)
    assert info["class"] == "AVX2 only" and info["features_limited_to"] == ["amx_int8", "avx2", "fma"]
    assert info["precision"] == "fp32" and "(features limited)" in machine.summary(info)


def test_bf16_auto_follows_the_machine(fake_cpu, monkeypatch):
    pytest.importorskip("torch")
    import torch

    from mathdistill.distill.student import use_bf16

    if torch.cuda.is_available():
        pytest.skip("CUDA decides bf16 here")
    monkeypatch.delenv(machine.LIMIT_ENV, raising=False)
    fake_cpu("Intel Xeon", "avx2 avx512f avx512_bf16")
    assert use_bf16("auto") and not use_bf16("false")
    monkeypatch.setenv(machine.LIMIT_ENV, "avx2")
    assert not use_bf16("auto") and use_bf16("true")


def test_describe_is_small_json():
    import json

    info = machine.describe(bf16=True)
    assert {"cpu", "class", "features", "bf16_fast", "cpus", "precision"} <= set(info)
    assert set(info["features"]) == set(machine.FEATURES) and info["precision"] == "bf16 autocast"
    assert len(json.dumps(info)) < 1000
    assert "precision" not in machine.describe()  # no model ran: no precision claimed
