"""Request and response bodies of the HTTP API (they are also its OpenAPI schema at /docs)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

Thought = Literal["cot", "pot", "eot"]


class SolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"question": "Tom has 3 boxes of 12 pencils and gives away 5. How many pencils are left?"},
        {"question": "Jake has 5 fewer peaches than Steven. Steven has 17 peaches. How many peaches does Jake have?",
         "thoughts": ["pot", "eot"]},
    ]})

    question: StrictStr = Field(description="A math word problem in English. Not empty; at most the server's "
                                            "limit (2,000 characters unless started otherwise; 413 beyond it).")
    thoughts: list[Thought] | None = Field(
        None, min_length=1, max_length=3,
        description="Which thoughts to run, any of cot (prose), pot (a program, run in the sandbox) and "
                    "eot (equations, solved exactly). Default: all three.")


class Verification(BaseModel):
    """How a thought's answer was obtained. `method` says which fields are filled."""

    method: Literal["extraction", "sandbox", "solver"] = Field(
        description="extraction: CoT answer taken from the prose by a rule; sandbox: PoT program executed in "
                    "the jailed sandbox; solver: EoT system solved by the exact equation solver")
    summary: str = Field(description="one line for people, e.g. 'program ran in the sandbox: ans = 12'")
    # CoT
    rule: str | None = Field(None, description="CoT: the extraction rule that matched (marker, last equals, "
                                                  "last number, none)")
    policy: str | None = Field(None, description="CoT: the extraction policy (strict or flexible)")
    # PoT
    program: str | None = Field(None, description="PoT: the program cut from the rationale, as executed")
    stdout: str | None = Field(None, description="PoT: what the program printed in the sandbox")
    # EoT
    equations: str | None = Field(None, description="EoT: the system cut from the rationale, as solved")
    values: dict[str, str] | None = Field(None, description="EoT: every variable's solved value")
    solver: str | None = Field(None, description="EoT: the solver's method (e.g. linear)")


class ThoughtResult(BaseModel):
    rationale: str = Field(description="what the model wrote")
    answer: str | None = Field(description="the answer its checker produced; null when it produced none")
    failure: str | None = Field(description="why there is no answer (e.g. 'error: NameError: ...', "
                                               "'no answer found'); null when there is one")
    verification: Verification


class VoteResult(BaseModel):
    answer: str | None = Field(description="the answer most thoughts agree on (ties: eot, pot, cot)")
    agree: int = Field(description="thoughts that gave this answer")
    support: list[Thought] = Field(description="those thoughts")
    voters: int = Field(description="thoughts that produced a readable answer")


class Timing(BaseModel):
    queued: float = Field(description="seconds waiting for the generation worker")
    generation: float = Field(description="seconds of the batch this request was generated in")
    batch: int = Field(description="requests generated together in that batch")
    verification: float = Field(description="seconds checking the rationales")
    total: float


class VerifierResult(BaseModel):
    answer: str | None = Field(description="the verifier's selection among the thoughts' answers")
    confidence: float | None = Field(description="calibrated probability that `answer` is right (calibrated on "
                                                 "the verifier's validation problems); null without an answer")
    abstain: bool = Field(description="true without an answer, when the verifier has no threshold (it never "
                                      "reached its target accuracy on validation), or below `threshold`")
    threshold: float | None = Field(description="the lowest confidence at which the verifier's validation answers "
                                                "reached its target accuracy; null: it never answers")
    support: list[Thought] = Field(description="the thoughts whose answers agree with `answer`")
    method: str = Field(description="verifier (best-scored thought) or verifier_vote (score-weighted vote), ...")
    scorer: str


class SolveResponse(BaseModel):
    question: str
    model: str
    backend: str
    thoughts: dict[Thought, ThoughtResult] = Field(description="per thought: rationale, answer, verification")
    vote: str | None = Field(description="the selected answer: the majority of the thoughts' answers (equal under "
                                         "the answer policy), or with a verifier its selection (`verifier`); null "
                                         "when no thought answered")
    agree: int = Field(description="the number of thoughts that agree with `vote`")
    support: list[Thought] = Field(description="the thoughts that agree with `vote`")
    voters: int = Field(description="thoughts that produced a readable answer")
    abstain: bool = Field(description="true when the answer is not trustworthy enough to give: with a verifier, "
                                      "its decision (`verifier.abstain`); without one, fewer than `min_agree` "
                                      "thoughts agree")
    min_agree: int = Field(description="the server's agreement threshold")
    plausible_vote: VoteResult = Field(description="the same vote over the most plausible answers only (whole "
                                                   "numbers >= 0 first, then other numbers >= 0, then negatives)")
    majority: VoteResult = Field(description="the plain majority vote, whatever selected `vote`")
    verifier: VerifierResult | None = Field(None, description="the verifier's answer and confidence (servers "
                                                              "started with --verifier, when the request asks for "
                                                              "the thoughts it was trained on)")
    timing: Timing


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    model: str
    backend: str
    queue: dict


class Info(BaseModel):
    model: str
    backend: str
    thoughts: list[Thought]
    min_agree: int
    max_question_chars: int
    max_body_bytes: int
    timeout_s: float
    max_new_tokens: int
    cot_policy: str
    auth: bool
    verifier: str | None = None  # "<scorer> verifier, <method>, threshold <t>" when the server has one


class ErrorBody(BaseModel):
    detail: object
