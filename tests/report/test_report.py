"""``avprep report``: the page of a fixture build holds every section with the build's own
numbers (read back from the HTML and recomputed here from the manifest and the shards), it
renders in headless Chromium without console errors (screenshot kept), a missing stage says
which option makes it, a damaged shard is listed, not fatal, and build strings are escaped."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from avprep.phonetics.phoneset import PHONES
from avprep.phonetics.visemes import phone_to_viseme
from avprep.reader import iter_samples
from avprep.report import render_report, write_report
from avprep.schema import manifest_table
from tests.report.browser import find_chromium, load_page
from tests.report.report_fixtures import parse_report

SECTIONS = ["yield", "faces", "audio", "phonetics", "config"]
ARTIFACTS = Path(
    os.environ.get("AVPREP_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts")
)


def _manifest(build: Path) -> list[dict]:
    return pq.read_table(build / "manifest.parquet").to_pylist()


def _check_images(doc) -> None:
    assert doc.outside_refs == [], "the page must not reference anything outside itself"
    assert "script" not in doc.tags
    for alt, src in doc.images:
        assert src.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")), alt
        data = doc.image(alt)
        assert data[:8] == b"\x89PNG\r\n\x1a\n" or data[:3] == b"\xff\xd8\xff", alt


# ---------------------------------------------------------------- the demo build's report


@pytest.fixture(scope="module")
def demo_report(demo_build):
    path = Path(demo_build) / "report.html"  # written by the end-of-build hook
    assert path.exists(), "avprep build did not write OUT/report.html"
    return parse_report(path.read_text()), _manifest(Path(demo_build))


def test_yield_numbers_match_the_manifest(demo_report):
    doc, rows = demo_report
    assert doc.sections == SECTIONS
    ok = [r for r in rows if r["status"] == "ok"]
    assert doc.num("n_clips") == len(rows)
    assert doc.num("n_ok") == doc.num("status:ok") == len(ok)
    assert doc.num("n_rejected") == len(rows) - len(ok)
    for split, n in Counter(r["split"] for r in rows).items():
        assert doc.num(f"split:{split}:total") == n
        assert doc.num(f"split:{split}:ok") == sum(r["split"] == split for r in ok)
    speakers = Counter(r["speaker"] for r in rows)
    assert doc.num("n_speakers") == len(speakers) == 2
    for speaker, n in speakers.items():
        assert doc.num(f"speaker:{speaker}:total") == n
    total = sum(r["duration"] for r in ok)
    assert doc.num("duration_ok_total") == pytest.approx(total, abs=0.01)
    assert doc.num("duration_ok_median") == pytest.approx(
        float(np.median([r["duration"] for r in ok])), abs=0.01
    )
    assert doc.num("good_run_clips") == sum(r["good_run_length"] is not None for r in ok)
    _check_images(doc)
    for alt in ("clips by status and rejection reason", "clips per split", "clips per speaker",
                "clip duration histogram", "good-frame fraction and longest good run"):  # fmt: skip
        assert doc.image(alt)


def test_faces_audio_phonetics_match_the_build(demo_report, demo_build):
    doc, rows = demo_report
    ok_keys = {r["key"] for r in rows if r["status"] == "ok"}
    assert len(doc.sheet_keys) == doc.num("sheet_rows") == min(12, len(ok_keys))
    assert set(doc.sheet_keys) <= ok_keys
    samples = list(iter_samples(demo_build))
    pose_frames = sum(int(np.isfinite(s.array("pose")).all(axis=1).sum()) for s in samples)
    assert doc.num("pose_frames") == pose_frames
    assert doc.num("good_frame_clips") == len(samples)
    assert doc.num("mean_face_clips") == len(samples)
    assert doc.num("samples_read") == len(samples)
    for alt in ("mean 256 and 112 crops", "head pose histograms",
                "audio features and video frames on one time axis",
                "clean feature tracks beside their noisy copies", "phone histogram",
                "viseme histogram"):  # fmt: skip
        assert doc.image(alt)
    # phone and viseme counts: the manifest's histograms summed here, visemes by the table
    hists = np.array([r["phone_hist"] for r in rows if r["status"] == "ok" and r["phone_hist"]])
    phones = hists.sum(axis=0)
    assert doc.num("phone_clips") == len(hists)
    assert doc.num("phone_total") == phones.sum() > 0
    table = phone_to_viseme()
    visemes = Counter()
    for p, n in zip(PHONES, phones, strict=True):
        assert doc.num(f"phone:{p}") == n
        visemes[table[p]] += int(n)
    for v, n in visemes.items():
        assert doc.num(f"viseme:{v}") == n
    assert not doc.missing.keys() & {"faces", "audio", "phonetics", "noise", "speakers"}
    if any("label_confidence" in r for r in rows):
        assert "confidence" not in doc.missing
    else:
        assert "label_confidence" in doc.missing["confidence"]
    info = json.loads((Path(demo_build) / "build.json").read_text())
    assert doc.config["dataset"] == "demo"
    assert doc.config["shard_size"] == "2"
    assert doc.versions["pocketsphinx"] == info["versions"]["pocketsphinx"]
    assert doc.error_box is None


def test_report_renders_in_chromium(demo_build, tmp_path):
    if find_chromium() is None:
        pytest.skip(
            "Chromium is not installed and could not be: `make test` installs Debian's "
            "chromium when run as root (apt-get install -y chromium)"
        )
    page = load_page(Path(demo_build) / "report.html")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "report_demo.png").write_bytes(page.screenshot)
    assert page.errors == [], page.errors
    assert page.title == "avprep report: demo (6 clips)"
    from PIL import Image

    img = Image.open(ARTIFACTS / "report_demo.png")
    assert img.width == 1400 and img.height > 4000  # the whole page, every section
    pixels = np.asarray(img.convert("L"))
    assert pixels.std() > 20  # pictures, not a blank page


def test_browser_check_sees_a_blocked_fetch(tmp_path):
    """The console capture is not vacuous: a page reaching outside breaks the policy."""
    if find_chromium() is None:
        pytest.skip("Chromium is not installed (see test_report_renders_in_chromium)")
    page = tmp_path / "bad.html"
    page.write_text(
        '<!doctype html><html><head><meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'\"><title>t</title></head>"
        '<body><img src="http://127.0.0.1:9/x.png" alt="x"></body></html>'
    )
    assert any("Content Security Policy" in e for e in load_page(page).errors)


# ---------------------------------------------------------------- missing stages, rejections


@pytest.fixture(scope="module")
def folder_build(demo_corpus, tmp_path_factory):
    """Folder corpus: two real clips, an empty file and a text file named .mp4, built by the
    CLI with every optional stage off and --no-report."""
    root = tmp_path_factory.mktemp("folder_corpus")
    (root / "train" / "ann").mkdir(parents=True)
    (root / "test" / "bob").mkdir(parents=True)
    shutil.copy(demo_corpus / "speaker1" / "clip00.mp4", root / "train" / "ann" / "a.mp4")
    shutil.copy(demo_corpus / "speaker2" / "clip01.mp4", root / "test" / "bob" / "b.mp4")
    (root / "train" / "ann" / "empty.mp4").write_bytes(b"")
    (root / "test" / "bob" / "junk.mp4").write_text("not a video at all")
    out = tmp_path_factory.mktemp("folder_build") / "out"
    from avprep.cli import main

    args = ["build", "folder", "--root", str(root), "--out", str(out), "--face-backend", "none",
            "--aligner", "none", "--features", "none", "--no-progress", "--no-report"]  # fmt: skip
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert not (out / "report.html").exists()
    return out


def test_missing_stages_name_the_option(folder_build):
    from avprep.cli import main

    result = CliRunner().invoke(main, ["report", str(folder_build)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"wrote {folder_build / 'report.html'}" in result.output
    doc = parse_report((folder_build / "report.html").read_text())
    rows = _manifest(folder_build)
    assert doc.sections == SECTIONS
    reasons = Counter(r["reason"] for r in rows if r["status"] == "rejected")
    assert reasons == {"empty_file": 1, "not_media": 1}
    for reason, n in reasons.items():
        assert doc.num(f"reason:{reason}") == n
    assert doc.num("split:test:rejected") == 1 and doc.num("split:train:rejected") == 1
    assert doc.num("speaker:bob:ok") == 1
    assert "--face-backend dlib" in doc.missing["faces"]
    assert "--features" in doc.missing["audio"]
    assert "--aligner pocketsphinx" in doc.missing["phonetics"]
    assert "--noise-db" in doc.missing["noise"]
    assert "--face-backend" in doc.missing["good_frames"]
    assert doc.sheet_keys == []
    _check_images(doc)


def test_a_damaged_shard_is_listed_not_fatal(demo_build, tmp_path):
    build = tmp_path / "build"
    shutil.copytree(demo_build, build, ignore=shutil.ignore_patterns("report.html"))
    bad = build / "shards" / "train-000001.tar"
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 3])  # cut inside a member
    html, ctx = render_report(str(build), samples=6)
    doc = parse_report(html)
    assert doc.sections == SECTIONS
    assert "train-000001.tar" in (doc.error_box or "")
    expected = []
    try:
        list(iter_samples(str(bad)))
    except Exception as e:  # the reader's own error for this shard, as the page shows it
        expected.append(type(e).__name__)
    assert expected and expected[0] in doc.error_box
    assert doc.num("shards_read") == 3
    good = {r["key"] for r in _manifest(build) if r["shard"] != "train-000001.tar"}
    assert set(doc.sheet_keys) >= good  # the other shards still fill the sheet


def test_hook_logs_a_report_error_and_the_build_goes_on(monkeypatch, tmp_path, caplog):
    import avprep.report
    from pipelines.build_steps import write_build_report

    def boom(out):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(avprep.report, "write_report", boom)
    with caplog.at_level("WARNING"):
        assert write_build_report(str(tmp_path)) is None
    assert "disk on fire" in caplog.text and "avprep report" in caplog.text


# ---------------------------------------------------------------- manifest-only builds


def _synthetic_build(tmp_path: Path, n_speakers: int) -> Path:
    rng = np.random.default_rng(1)
    rows = []
    for i in range(400):
        speaker = "<script>alert(1)</script>" if i % n_speakers == 0 else f"spk{i % n_speakers:03d}"
        ok = rng.random() > 0.3
        rows.append({
            "key": f"k{i:05d}", "dataset": "synthetic", "split": "train" if i % 5 else "val",
            "kind": "clip", "status": "ok" if ok else "rejected",
            "reason": None if ok else ("no_face" if i % 2 else "too_short"),
            "shard": "train-000000.tar" if ok else None, "source": f"{speaker}/{i}.mp4",
            "speaker": speaker, "n_frames": 50, "duration": 2.0,
            "good_run_length": 40 if ok else None,
            "phone_hist": [int(x) for x in rng.integers(0, 5, 39)] if ok else None,
        })  # fmt: skip
    out = tmp_path / "synthetic"
    out.mkdir()
    pq.write_table(manifest_table(rows), out / "manifest.parquet")
    info = {"avprep_version": "0", "config": {"dataset": "synthetic", "face_backend": "dlib",
            "features": ["mfcc_davs"], "aligner": "pocketsphinx", "noise_levels_db": []},
            "counts": {"shards": 1}, "versions": {"x": "<b>1</b>"}, "fingerprint": "f"}  # fmt: skip
    (out / "build.json").write_text(json.dumps(info))
    return out


def test_many_speakers_and_hostile_strings(tmp_path):
    build = _synthetic_build(tmp_path, n_speakers=60)
    result = write_report(str(build), samples=0)
    html = Path(result.path).read_text()
    doc = parse_report(html)
    assert "script" not in doc.tags and "b" not in doc.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert doc.versions["x"] == "<b>1</b>"  # shown as text
    rows = pq.read_table(build / "manifest.parquet").to_pylist()
    assert doc.num("n_speakers") == 60
    worst = [k for k in doc.stats if k.startswith("speaker:") and k.endswith(":total")]
    assert len(worst) == 40  # the 40 lowest-yield speakers
    by_speaker = Counter(r["speaker"] for r in rows if r["status"] == "ok")
    total = Counter(r["speaker"] for r in rows)
    shown = [k.split(":")[1] for k in worst]
    cutoff = max(by_speaker[s] / total[s] for s in shown)
    assert all(by_speaker[s] / total[s] >= cutoff for s in total if s not in shown)
    assert doc.num("reason:no_face") == sum(r["reason"] == "no_face" for r in rows)
    assert doc.image("clips per speaker")


# ---------------------------------------------------------------- a one-clip build


def test_one_clip_report_states_values_instead_of_one_value_histograms(
    tmp_path, demo_corpus, demo_report
):
    from avprep.config import BuildConfig
    from pipelines.build import run_build

    root = tmp_path / "corpus"
    (root / "speaker1").mkdir(parents=True)
    for name in ("clip00.mp4", "clip00.txt"):
        shutil.copy(demo_corpus / "speaker1" / name, root / "speaker1" / name)
    out = tmp_path / "out"
    cfg = BuildConfig(
        dataset="folder",
        root=str(root),
        out=str(out),
        face_backend="dlib",
        features=(),
        aligner="pocketsphinx",
    )
    result = run_build(cfg)
    doc = parse_report(Path(result.report).read_text())
    (row,) = _manifest(out)
    assert row["status"] == "ok"
    one_value = ("clip duration histogram", "good-frame fraction and longest good run",
                 "label confidence histogram")  # fmt: skip
    alts = {alt for alt, _ in doc.images}
    assert not alts & set(one_value)
    assert doc.num("good_run_frames") == row["good_run_length"]
    assert doc.num("good_run_fraction") == pytest.approx(
        row["good_run_length"] / row["n_frames"], abs=1e-3
    )
    (sample,) = iter_samples(str(out))
    face = sample.meta["face"]
    assert doc.num("good_frame_fraction") == pytest.approx(
        face["good_frames"] / sample.n_frames, abs=1e-3
    )
    assert doc.num("label_confidence") == pytest.approx(row["label_confidence"], abs=1e-3)
    assert doc.num("duration_ok_total") == pytest.approx(row["duration"], abs=0.01)
    for alt in ("head pose histograms", "phone histogram", "viseme histogram"):
        assert doc.image(alt)  # what one clip does show
    _check_images(doc)
    demo_doc, _ = demo_report  # a build of several clips keeps every histogram
    for alt in one_value:
        assert demo_doc.image(alt)
