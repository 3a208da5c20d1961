"""Word information left in the identity (pid) features (DAVS Sec. 4.2): a linear SVM trained
to predict the word label from the person-identity encoder's features; the lower its test
accuracy, the better speech content was removed (DAVS: 27.8 % before, 9.7 % after its
adversarial disentanglement).

DAVS gives neither the SVM's settings nor its split. We use scikit-learn's ``LinearSVC``
(one-vs-rest, squared hinge, ``C=1``) on standardised features, trained on one set and scored
on another; :func:`word_information_split` makes a stratified split when only one set exists.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _np(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


def word_information_in_pid(
    train_features: Any,
    train_words: Any,
    test_features: Any,
    test_words: Any,
    c: float = 1.0,
    max_iter: int = 5000,
    seed: int = 0,
) -> dict[str, Any]:
    """Test accuracy of a linear SVM predicting word ids from identity features."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    xtr, ytr = _np(train_features).reshape(len(_np(train_words)), -1), _np(train_words)
    xte, yte = _np(test_features).reshape(len(_np(test_words)), -1), _np(test_words)
    if len(np.unique(ytr)) < 2:
        raise ValueError("the training set needs at least two words")
    clf = make_pipeline(StandardScaler(), LinearSVC(C=c, max_iter=max_iter, random_state=seed))
    clf.fit(xtr, ytr)
    acc = float((clf.predict(xte) == yte).mean())
    chance = float(np.bincount(yte.astype(np.int64)).max() / len(yte))
    return {
        "word_acc_from_pid": acc,
        "majority_class_acc": chance,
        "train_samples": int(len(ytr)),
        "test_samples": int(len(yte)),
        "words": int(len(np.unique(ytr))),
    }


def word_information_split(
    features: Any, words: Any, test_fraction: float = 0.2, seed: int = 0, **kwargs: Any
) -> dict[str, Any]:
    """:func:`word_information_in_pid` on a stratified train/test split of one set."""
    from sklearn.model_selection import train_test_split

    x, y = _np(features), _np(words)
    values, counts = np.unique(y, return_counts=True)
    if len(values) and counts.min() < 2:
        single = ", ".join(str(v) for v in values[counts < 2][:5])
        raise ValueError(
            f"a stratified split needs at least 2 samples of every word; word(s) {single} "
            "have 1: give a separate test set (train_/test_ arrays, or `avprep eval "
            "word-info TRAIN.npz --test TEST.npz`)"
        )
    xtr, xte, ytr, yte = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return word_information_in_pid(xtr, ytr, xte, yte, seed=seed, **kwargs)
