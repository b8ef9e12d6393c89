"""Label fidelity: can the requested dimension values be read back from the generated texts?

For each dimension, a multinomial logistic regression on the text embeddings is cross-validated
(StratifiedKFold): a row's held-out prediction comes from a model that never saw it. Accuracy well above
chance means the texts carry their labels; rows whose held-out prediction disagrees are listed (not
dropped) for review. This is the "classifier two-sample / probe" view of conditional generation quality
(cf. Lopez-Paz & Oquab 2017, "Revisiting Classifier Two-Sample Tests"; the CAS score of Ravuri & Vinyals
2019, "Classification Accuracy Score for Conditional Generative Models").
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict


def _one_dimension(emb: np.ndarray, values: list[str], seed: int, max_folds: int) -> dict:
    counts = Counter(values)
    names = sorted(counts, key=lambda v: (-counts[v], v))
    n = len(values)
    majority = counts[names[0]] / n
    base = {"n_rows": n, "n_values": len(names), "majority_share": majority, "uniform_chance": 1 / len(names)}
    if len(names) < 2:
        return {**base, "accuracy": None, "note": "one value only: nothing to predict"}
    smallest = min(counts.values())
    folds = min(max_folds, smallest)
    if folds < 2:
        # Values seen once cannot be held out and learnt at once; fit the rest, skip those rows.
        keep = np.array([counts[v] >= 2 for v in values])
        sub = _one_dimension(emb[keep], [v for v, k in zip(values, keep, strict=False) if k], seed, max_folds)
        idx = np.flatnonzero(keep)
        sub["disagreeing_rows"] = [int(idx[i]) for i in sub.get("disagreeing_rows", [])]
        sub["skipped_rows"] = [int(i) for i in np.flatnonzero(~keep)]
        sub["note"] = "values with a single row were skipped"
        return {**sub, "majority_share": majority, "uniform_chance": 1 / len(names), "n_rows": n}
    y = np.array(values, dtype=object)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    clf = LogisticRegression(max_iter=1000, C=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pred = cross_val_predict(clf, emb, y, cv=cv)
    correct = pred == y
    recall = {v: float(np.mean(correct[y == v])) for v in names}
    return {
        **base,
        "accuracy": float(np.mean(correct)),
        "lift_over_majority": float(np.mean(correct) - majority),
        "folds": int(folds),
        "recall": recall,
        "disagreeing_rows": [int(i) for i in np.flatnonzero(~correct)],
        "predicted": {int(i): str(pred[i]) for i in np.flatnonzero(~correct)},
    }


def label_fidelity(
    emb: np.ndarray, labels: dict[str, list[str]], seed: int = 0, *, max_folds: int = 5
) -> dict:
    """Cross-validated probe accuracy of each label dimension from the text embeddings.

    Args:
        emb: (n, d) text embeddings. labels: {dimension: n values (strings)}.
        seed: fold shuffling seed. max_folds: StratifiedKFold splits (fewer when a value has fewer rows).
    Returns:
        {dimension: {"accuracy" (0-1, held-out), "majority_share", "uniform_chance" (1/K),
        "lift_over_majority", "recall" {value: 0-1}, "disagreeing_rows" [row indices, ascending],
        "predicted" {row: held-out prediction}, "n_rows", "n_values", "folds"}}.
    """
    emb = np.asarray(emb, dtype=np.float32)
    out = {}
    for dim, values in labels.items():
        if len(values) != len(emb):
            raise ValueError(f"dimension {dim!r} has {len(values)} labels for {len(emb)} rows")
        out[dim] = _one_dimension(emb, [str(v) for v in values], seed, max_folds)
    return out
