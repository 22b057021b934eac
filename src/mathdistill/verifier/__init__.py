"""A verifier over a student's candidates: which answer to pick, how sure to be, when to abstain.

    features      gold-free features of a candidate among its problem's candidates
    select        vote / plausible / verifier (best-of-n) / verifier_vote (score-weighted vote)
    metrics       accuracy at coverage, AUROC, ECE and reliability, the validation threshold
    model         `Verifier`: a scorer + per-method calibration + thresholds, saved as verifier.json
    cross_encoder a small encoder fine-tuned on (question, candidate) pairs (scorer "cross_encoder")
    run           `mathdistill verifier train` / `mathdistill verifier evaluate`
"""

from .model import SCORERS, Decision, Verifier
from .select import METHODS, Selection, select

__all__ = ["METHODS", "SCORERS", "Decision", "Selection", "Verifier", "select"]
