"""FaceConfig's crop sizes by template name, and the old option names older builds hold."""

from __future__ import annotations

import pytest

from avprep.clip_processor import make_identity_stages, make_stages
from avprep.config import BuildConfig
from avprep.face.config import FaceConfig, current_face_options


def test_old_crop_option_names_are_read_as_the_current_ones():
    old = {"crop_size": 128, "crop_size_small": 96, "max_yaw": 30.0}
    assert current_face_options(old) == {"crop_size_davs": 128, "crop_size_cran": 96,
                                         "max_yaw": 30.0}  # fmt: skip
    assert old == {"crop_size": 128, "crop_size_small": 96, "max_yaw": 30.0}  # not mutated
    cfg = FaceConfig.from_options("dlib", old)
    assert (cfg.backend, cfg.crop_size_davs, cfg.crop_size_cran, cfg.max_yaw) == (
        "dlib", 128, 96, 30.0,
    )  # fmt: skip
    assert FaceConfig.from_options("dlib", {}) == FaceConfig(backend="dlib")
    with pytest.raises(ValueError, match="give only 'crop_size_cran'"):
        current_face_options({"crop_size_small": 96, "crop_size_cran": 112})
    with pytest.raises(TypeError, match="crop_sise"):
        FaceConfig.from_options("dlib", {"crop_sise": 128})  # a typo is still refused


@pytest.mark.parametrize("key", ["crop_size_cran", "crop_size_small"])
def test_a_build_passes_its_crop_sizes_to_the_face_stage(key):
    """A build's face_options reach the stage under either name, for clips and photos."""
    config = BuildConfig(dataset="folder", root="/r", out="/o", face_backend="dlib",
                         face_options={key: 96, "detect_every": 3})  # fmt: skip
    clip_stage = make_stages(config)[0].config
    photo_stage = make_identity_stages(config)[0].config
    assert (clip_stage.crop_size_cran, clip_stage.crop_size_davs, clip_stage.detect_every) == (
        96, 256, 3,
    )  # fmt: skip
    assert (photo_stage.crop_size_cran, photo_stage.detect_every) == (96, 1)
