"""[phon, issue 16] The DVAE views refuse visemes recognised without a transcript unless the
config allows them (kept apart from test_views.py, which the `fid` engineer edits)."""

from __future__ import annotations

import json

import numpy as np

from avprep.reader import ShardSample, iter_samples
from models.dvae.view import DvaeConfig, DvaeFaceView, DvaeSegmentView


def _relabelled(sample: ShardSample, source: str) -> ShardSample:
    meta = dict(sample.meta)
    meta["phonetics"] = dict(meta["phonetics"], label_source=source, confidence=0.5)
    fields = dict(sample.fields, json=json.dumps(meta).encode())
    return ShardSample.from_fields(sample.key, fields, "x.tar")


def test_dvae_views_refuse_recognized_visemes_unless_asked(cremad_build):
    (sample,) = list(iter_samples(cremad_build, splits="val"))
    recognized = _relabelled(sample, "recognized")
    for view_cls, cfg in ((DvaeSegmentView, {}), (DvaeFaceView, {"seq_len": 8})):
        view = view_cls(DvaeConfig(**cfg))
        assert view(recognized, np.random.default_rng(0)) == []
        assert view.skipped["recognized_visemes"] == 1
        assert view(_relabelled(sample, "transcript"), np.random.default_rng(0))
        allowed = view_cls(DvaeConfig(allow_recognized_visemes=True, **cfg))
        assert allowed(recognized, np.random.default_rng(0))
