"""The core skips batches smaller than a method's ``min_batch_size``: an epoch's last partial
batch per reader can hold one item, which BatchNorm in training cannot normalise (found when a
CRAN RAE run on the demo build died on a batch of one)."""

from __future__ import annotations

import numpy as np
import pytest

from models.cran.trainer import CranTrainer
from models.training.loop import EmptyDataError, _BatchStream


def _batch(n: int, tag: int) -> dict:
    return {"__resume__": np.arange(n), "tag": tag}


def test_small_batches_are_skipped_and_epochs_continue() -> None:
    epoch = [_batch(2, 0), _batch(1, 1), _batch(2, 2), _batch(1, 3)]
    stream = _BatchStream(epoch, view=None, rank=0, min_batch=2)
    tags = [stream.next()["tag"] for _ in range(4)]
    assert tags == [0, 2, 0, 2]  # the second epoch starts over, still without the singles
    assert stream.small_batches_skipped == 3


def test_an_epoch_of_only_small_batches_is_a_clear_error() -> None:
    stream = _BatchStream([_batch(1, 0)], view=None, rank=0, min_batch=2)
    with pytest.raises(EmptyDataError, match="at least 2"):
        stream.next()


def test_cran_asks_for_two() -> None:
    assert CranTrainer.min_batch_size == 2
