"""Every shipped config loads into its dataclasses, passes their checks, and names real splits."""

from pathlib import Path

import pytest
import yaml

from mathdistill import datasets as ds
from mathdistill.config import load_config

ROOT = Path(__file__).parent.parent / "configs"
CONFIGS = sorted(p for p in ROOT.rglob("*.yaml") if "accelerate" not in p.parts)


def _classes():
    from mathdistill.distill.dataset import BuildConfig
    from mathdistill.teachers.jobs import GenerateConfig
    from mathdistill.distill.train import TrainConfig
    from mathdistill.encoder_kd.experiment import ExperimentConfig
    from mathdistill.encoder_kd.study import StudyConfig
    from mathdistill.evaluate.run import EvalConfig
    from mathdistill.evaluate.candidates import SampleConfig
    from mathdistill.verifier.run import VerifierEvalConfig, VerifierTrainConfig

    return {"generate": GenerateConfig, "build": BuildConfig, "train": TrainConfig, "evaluate": EvalConfig,
            "run": ExperimentConfig, "study": StudyConfig, "sample": SampleConfig, "verifier": VerifierTrainConfig,
            "verifier_evaluate": VerifierEvalConfig}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_config_loads(path):
    sections = yaml.safe_load(path.read_text())
    classes = _classes()
    assert sections and set(sections) <= set(classes), f"{path}: unknown sections {set(sections) - set(classes)}"
    for name in sections:
        cfg = load_config(classes[name], path, section=name)
        if hasattr(cfg, "validate"):
            cfg.validate()
        for field in ("splits", "eval_splits"):
            for spec in getattr(cfg, field, None) or []:
                ds.parse_spec(spec)


def test_every_config_is_found():
    assert len(CONFIGS) >= 10 and ROOT / "gold_etd_svamp_distractors.yaml" in CONFIGS
