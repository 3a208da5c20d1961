"""A user's whole path through the public CLI: a build -> `avprep train cran --stage cae`
-> `avprep generate cran` on one of the build's source clips with its own speech
(`--real-out` writes that clip's own crops under the generated frames) -> `avprep eval
quality` and `avprep eval lmd` on the pair. Proves the commands chain: the generated and
real files have the same crop size and frame count, frame i of both is the same instant
(checked against the build's own stored crops), and the eval JSON is well-formed.

The CRAN networks are shrunk (channel_divisor 8) and trained for a few CPU seconds; the
figures are plumbing, not quality (docs/results.md, "Demo-scale runs")."""

from __future__ import annotations

import json
import math
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from avprep.cli import main
from avprep.face.crop_codec import decode_stream
from avprep.reader import iter_samples

pytestmark = pytest.mark.slow

CLIP = "speaker1/clip02"  # 132 frames (5.28 s): CRAN generates frames 4..127
STEPS = 120


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def read_video(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def finite_numbers(obj) -> list[float]:
    """Every number in a JSON value (strings such as "nan" are not numbers)."""
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in finite_numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in finite_numbers(v)]
    if isinstance(obj, bool) or not isinstance(obj, int | float):
        return []
    return [float(obj)]


@pytest.fixture(scope="module")
def chain(demo_build, tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    source = Path(demo_build).parent / "demo_corpus" / f"{CLIP}.mp4"  # the build's own clip
    assert source.is_file()
    run = base / "run"
    cli(
        "train", "cran", "--data", str(demo_build), "--stage", "cae", "--steps", str(STEPS),
        "--batch-size", "2", "--device", "cpu", "--workers", "0", "--out", str(run),
        "--set", "channel_divisor=8", "--set", "val_every=0", "--set", "sample_every=0",
        "--no-progress",
    )  # fmt: skip
    gen, real = base / "generated" / "clip02.mp4", base / "real" / "clip02.mp4"
    out = cli(
        "generate", "cran", "--checkpoint", str(run), "--video", str(source),
        "--out", str(gen), "--real-out", str(real), "--device", "cpu",
    )  # fmt: skip
    info = json.loads(out.strip().splitlines()[-1])
    results = {}
    for measure, extra in (("quality", ()), ("lmd", ("--device", "cpu"))):
        path = base / f"eval_{measure}.json"
        cli("eval", measure, str(real.parent), str(gen.parent), "--json", str(path),
            "--no-progress", *extra)  # fmt: skip
        results[measure] = json.loads(path.read_text())
    return {"info": info, "gen": gen, "real": real, "eval": results, "build": demo_build}


def test_generate_writes_matching_real_and_generated_files(chain):
    info = chain["info"]
    assert (info["first_frame"], info["speech_frames"]) == (4, 132)
    n = info["frames"]
    assert n == info["real_frames"] == 132 - 8  # mfcc_cran: frames 4..N-5
    gen, real = read_video(chain["gen"]), read_video(chain["real"])
    assert gen.shape == real.shape == (n, 112, 112, 3)
    assert gen.std() > 1 and real.std() > 1


def test_real_side_is_the_builds_own_crops_at_the_generated_frames(chain):
    """Frame i of --real-out is frame first_frame + i of the clip as the build cropped it:
    closer to that build frame than to its neighbours (a shift of even one frame shows)."""
    (sample,) = [s for s in iter_samples(chain["build"]) if "speaker1__clip02" in s.key]
    stored = decode_stream(sample.fields, "crop112").astype(np.int16)
    real = read_video(chain["real"]).astype(np.int16)
    first, n = chain["info"]["first_frame"], len(real)
    inner = slice(1, n - 1)

    def diff(shift: int) -> float:
        return float(np.abs(real[inner] - stored[first + shift : first + shift + n][inner]).mean())

    assert diff(0) < 4  # two H.264 encodings of the same crops
    assert diff(0) < min(diff(-1), diff(1))


def test_eval_reads_every_generated_frame_and_writes_finite_json(chain):
    n = chain["info"]["frames"]
    q = chain["eval"]["quality"]
    assert q["measure"] == "quality" and q["skipped"] == []
    assert q["summary"]["clips"] == 1 and q["inputs"]["pairs"] == 1
    (row,) = q["clips"]
    assert row["clip"] == "clip02" and row["frames"] == n and row["frames_trimmed"] == 0
    assert 5 < q["summary"]["psnr"] < 60 and 0 < q["summary"]["ssim"] < 1
    assert all(math.isfinite(x) for x in finite_numbers(q))

    lmd = chain["eval"]["lmd"]
    assert lmd["measure"] == "lmd" and lmd["skipped"] == []
    (row,) = lmd["clips"]
    assert row["frames"] == n and row["frames_trimmed"] == 0
    # the shrunk CAE already draws a face dlib finds on most frames
    assert row["frames_missing"] < n // 2
    assert 0 <= lmd["summary"]["lmd"] < 20 and lmd["summary"]["clips_without_face"] == 0
    assert lmd["versions"]  # which landmark model measured it
    assert all(math.isfinite(x) for x in finite_numbers(lmd))
