import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_configure(config):
    # Tests read the real benchmark files; default to ../shared/data as CI lays it out.
    if "MATHDISTILL_DATA" not in os.environ and SHARED_DATA.is_dir():
        os.environ["MATHDISTILL_DATA"] = str(SHARED_DATA)


@pytest.fixture
def data_root() -> Path:
    root = Path(os.environ["MATHDISTILL_DATA"])
    if not root.is_dir():
        pytest.fail(f"MATHDISTILL_DATA={root} does not exist; tests need the real benchmark files")
    return root


# Tiny random students with the real SmolLM2 tokenizer (tests of training, evaluation, the demo).
@pytest.fixture(scope="session")
def tokenizer():
    from mathdistill.distill.student import load_tokenizer
    from mathdistill.models import resolve_hf

    return load_tokenizer(resolve_hf("smollm2-135m"))


def build_tiny(kind: str, tokenizer, out: Path) -> str:
    """A 2-layer random student of the given family, saved with the SmolLM2 tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    common = {"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id,
              "eos_token_id": tokenizer.eos_token_id}
    if kind == "causal":
        model = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                             num_attention_heads=4, num_key_value_heads=2,
                                             max_position_embeddings=256, bos_token_id=tokenizer.eos_token_id,
                                             **common))
    else:
        model = T5ForConditionalGeneration(T5Config(d_model=32, d_ff=64, d_kv=8, num_layers=2, num_heads=4,
                                                    decoder_start_token_id=tokenizer.pad_token_id, **common))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session")
def tiny_causal(tokenizer, tmp_path_factory) -> str:
    return build_tiny("causal", tokenizer, tmp_path_factory.mktemp("tiny") / "causal")


@pytest.fixture(scope="session")
def tiny_t5(tokenizer, tmp_path_factory) -> str:
    return build_tiny("t5", tokenizer, tmp_path_factory.mktemp("tiny") / "t5")
