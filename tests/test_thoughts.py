"""CoT answer extraction (table + fuzzing), program extraction, prompts."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mathdistill.answers import parse_number
from mathdistill.thoughts import INSTRUCTIONS, THOUGHTS, student_prompt, teacher_messages
from mathdistill.thoughts.cot import extract_answer
from mathdistill.thoughts.exemplars import EXEMPLARS
from mathdistill.thoughts.pot import extract_program


@pytest.mark.parametrize("text,strict,flexible", [
    ("The answer is 42.", "42", "42"),
    ("Natalia sold 48+24 = 72 clips.\n#### 72", "72", "72"),
    ("It costs 5 * 250 = $1,250", None, "$1,250"),
    ("Answer: -3", "-3", "-3"),
    ("The final answer is $12.50.", "$12.50", "$12.50"),
    ("so \\boxed{7}", "7", "7"),
    ("The answer is 5. Wait, the answer is 6.", "6", "6"),
    ("We get 3 apples and 4 pears", None, "4"),
    ("They have 10 - 4 = 6 left, so 6 apples in 2 bags", None, "6"),
    ("The answer is 3/4.", "3/4", "3/4"),
    ("The answer is 50%.", "50%", "50%"),
    ("nothing to see", None, None),
    ("", None, None),
])
def test_cot_extraction(text, strict, flexible):
    assert extract_answer(text, "strict").answer == strict
    assert extract_answer(text, "flexible").answer == flexible


def test_unknown_policy():
    with pytest.raises(ValueError, match="unknown CoT extraction policy"):
        extract_answer("1", "lenient")


@given(st.text(max_size=2000))
@settings(max_examples=300, deadline=1000)
def test_cot_extraction_never_crashes_or_hangs(text):
    for policy in ("strict", "flexible"):
        ex = extract_answer(text, policy)
        assert ex.answer is None or parse_number(ex.answer) is not None


@given(st.lists(st.sampled_from(["The answer is", " ", "12", "1,000", "$", "=", "-", ".", "####", "\n", "3/4",
                                 "answer:", "%", "x", "(", ")", "9" * 40, ",", "0" * 30]), max_size=200))
@settings(max_examples=300, deadline=1000)
def test_cot_extraction_on_answer_like_noise(parts):
    ex = extract_answer("".join(parts))
    assert ex.how in ("marker", "last equals", "last number", "none")


def test_extract_program_from_fences_and_plain_text():
    assert extract_program("Here:\n```python\nans = 1\n```\nDone.") == "ans = 1"
    assert extract_program("```\nx = 2\nans = x\n```") == "x = 2\nans = x"
    assert extract_program("ans = 3") == "ans = 3"
    assert extract_program("```python\nans = 4") == "ans = 4"  # unterminated fence (truncated generation)


def test_prompts_use_the_paper_instructions_and_our_exemplars():
    assert INSTRUCTIONS == {"cot": "Let's think step by step.", "pot": "Let's break down the code step by step.",
                            "eot": "System of linear equations: (Do not simplify)"}
    q = "Sam has 3 apples and buys 2 more. How many apples does he have?"
    for t in THOUGHTS:
        msgs = teacher_messages(q, t)
        assert msgs[0]["role"] == "system" and msgs[-1]["content"] == student_prompt(q, t)
        assert len(msgs) == 2 + 2 * len(EXEMPLARS)
        # the few-shot prefix is the same for every question (prompt caching)
        assert teacher_messages("other", t)[:-1] == msgs[:-1]
    with pytest.raises(ValueError):
        teacher_messages(q, "tot")


def test_exemplars_are_right():
    """Every exemplar, in every form, gives the number its CoT states."""
    from mathdistill.equations import solve_text
    from mathdistill.sandbox import run_program

    for ex in EXEMPLARS:
        gold = parse_number(extract_answer(ex["cot"], "strict").answer)
        assert gold is not None
        assert parse_number(run_program(ex["pot"]).answer) == gold
        assert float(solve_text(ex["eot"]).value) == gold
        assert re.search(r"The answer is \d+\.$", ex["cot"])
