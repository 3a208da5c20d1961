"""The method registry: view names resolve through it (registered views first, then the
reader's built-in ones), stage trainers and build checks are found by name."""

from __future__ import annotations

import pytest

from avprep.reader import View
from models import methods
from models.data import make_loader
from models.davs.view import DavsView
from models.dvae.view import DvaeSegmentView
from models.training import builds


class RenamedView(DvaeSegmentView):
    name = "renamed"


@pytest.fixture
def registered():
    spec = methods.register(
        methods.MethodSpec(
            name="probe",
            config="dataclasses:dataclass",
            stages={"one": f"{__name__}:RenamedView"},
            views={"renamed": f"{__name__}:RenamedView"},
            check_build=f"{__name__}:_check",
        )
    )
    yield spec
    methods.METHODS.pop("probe")


def _check(info, stage):
    return builds.missing_features(info, "mfcc_davs") + builds.missing_face(info)


def test_view_names_go_through_the_registry(synthetic, registered):
    assert issubclass(methods.view_class("davs"), DavsView)  # DAVS registers its subclass
    assert methods.view_class("renamed") is RenamedView
    assert {"davs", "cran", "renamed"} <= set(methods.view_names())
    loader = make_loader(synthetic, "davs", 2)
    assert isinstance(loader.dataset.view, DavsView)
    assert isinstance(make_loader(synthetic, "renamed", 2).dataset.view, RenamedView)
    with pytest.raises(ValueError, match="unknown view 'nope'.*davs"):
        make_loader(synthetic, "nope", 2)
    assert issubclass(methods.trainer_class("probe"), View)
    with pytest.raises(KeyError, match="stages: one"):
        methods.trainer_class("probe", "two")


def test_build_check_helpers_name_the_option(registered):
    info = {"config": {"features": ["logspec_dvae"], "face_backend": "none", "aligner": "none",
                       "noise_levels_db": [-30.0]}}  # fmt: skip
    problems = methods.check_build("probe", info)
    assert "--features logspec_dvae,mfcc_davs" in problems[0]
    assert "--face-backend dlib" in problems[1]
    assert "--aligner pocketsphinx" in builds.missing_alignment(info)[0]
    assert "--noise-db -30 --noise-db -10" in builds.missing_noise(info, [-10])[0]
    ok = {"config": {"features": ["mfcc_davs"], "face_backend": "dlib"}}
    assert methods.check_build("probe", ok) == []
    user = {"config": {"features": [], "feature_configs": [{"name": "mfcc_davs"}]}}
    assert builds.missing_features(user, "mfcc_davs") == []
