"""The ``avprep`` command line (click). Thin: parses, then calls library/pipeline code."""

from __future__ import annotations

import logging
import math
import sys

import click

import avprep
from avprep.face.config import X264_PRESETS as X264_PRESET_NAMES
from avprep.face.registry import DEFAULT_FACE_BACKEND, FACE_BACKENDS, NO_FACE
from avprep.face.registry import help_text as face_backends_help
from avprep.paths import default_build_dir


class FiniteFloat(click.FloatRange):
    """A float option that must be a finite number (NaN passes every range check)."""

    name = "number"

    def convert(self, value, param, ctx):  # noqa: ANN001, ANN201 (click's signature)
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(number, param, ctx)


# Every numeric option is checked here, so a bad value is refused naming its option instead
# of silently building one clip (--limit 0), no clip (--workers 0) or lifting a memory bound.
COUNT = click.IntRange(min=1)  # shard sizes, workers, limits, batch sizes, frame counts
SEED = click.IntRange(min=0, max=2**32 - 1)
PIXELS = click.IntRange(min=16, max=8192)  # frame sides: a bound on memory per frame
POSITIVE_SECONDS = FiniteFloat(min=0.0, min_open=True)
ANGLE = FiniteFloat(min=0.0, max=180.0, min_open=True)  # head-pose limits in degrees
FINITE = FiniteFloat()

BUILD_EPILOG = """
\b
Examples:
  avprep build demo                                  # bundled demo corpus -> $AVPREP_HOME/demo
  avprep build folder --root ~/videos --out ~/videos-avprep --workers 2
  avprep build lrw --root gs://b/lrw --out gs://b/out --runner=DataflowRunner \\
      --project=P --region=R --temp_location=gs://b/tmp --sdk_container_image=IMAGE
  avprep build folder --root ~/videos --out ~/videos-avprep --runner=DaskRunner --workers 4
  avprep build lrw --root /nfs/lrw --out /nfs/lrw-avprep --shared-out \\
      --runner=DaskRunner --dask_client_address=SCHEDULER:8786

\b
Any option avprep does not know is passed to Apache Beam unchanged
(--runner, --project, --region, --temp_location, --setup_file, --dry_run=True, ...).
A local build with one worker and no Beam option runs in this process without Beam
(same output; --runner=DirectRunner keeps Beam, --runner=inprocess asks for this).
Re-running the same command resumes: finished shards are kept, the rest is redone.
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(avprep.__version__, prog_name="avprep")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """avprep: audio-visual speech corpora -> webdataset shards for talking-face models.

    Builds run on Apache Beam (DirectRunner locally, Dataflow/Flink/Spark on a cluster;
    a small local build runs in-process without Beam, same output) and write
    OUT/shards/*.tar, OUT/manifest.parquet (one row per discovered clip, written or rejected
    with a reason) and OUT/build.json.
    """
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not verbose:  # Beam logs a failing step's traceback, then raises it: say it once
        logging.getLogger("apache_beam.runners.common").setLevel(logging.CRITICAL)


def _key_values(pairs: tuple[str, ...], split_file: str | None) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--option")
        out[key.strip()] = value.strip()
    if split_file:
        out["split_file"] = split_file
    return out


def _read_json(path: str) -> object:
    import json

    with open(path) as f:
        return json.load(f)


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    epilog=BUILD_EPILOG,
)
@click.argument("dataset")
@click.option(
    "--root", help="Corpus root as distributed (local path or gs://...). Not needed for 'demo'."
)
@click.option(
    "--out",
    help="Build folder. Default: $AVPREP_HOME/<dataset> "
    "(AVPREP_HOME defaults to ~/.avprep/datasets).",
)
@click.option(
    "--workers",
    type=COUNT,
    default=None,
    help="Local parallelism: N processes (Beam DirectRunner multi-processing; with "
    "--runner=DaskRunner and no --dask_client_address, a local Dask cluster of N workers).",
)
@click.option(
    "--shared-out",
    is_flag=True,
    help="--out is a shared mount (NFS, Lustre, GPFS) every worker sees at the same path: "
    "lets a cluster runner write a local-looking --out; each worker checks it sees the folder.",
)
@click.option("--shard-size", type=COUNT, default=64, show_default=True, help="Clips per shard.")
@click.option("--limit", type=COUNT, default=None, help="Build only the first N clips (a slice).")
@click.option("--split", "splits", multiple=True, help="Only these splits (repeatable).")
@click.option("--speakers", default=None, help="Only these speakers (comma-separated).")
@click.option(
    "--transcripts",
    default=None,
    help="Sidecar transcript file for corpora without transcripts (see README).",
)
@click.option(
    "--split-file",
    default=None,
    help="Override the splits: lines '<clip or speaker> <split>' (see README).",
)
@click.option(
    "--option",
    "adapter_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Corpus adapter option, repeatable (e.g. word_list=FILE for lrw, prompts=FILE and "
    "camera=all for tcdtimit, version=2 for voxceleb; see `avprep datasets`).",
)
@click.option(
    "--face-backend",
    type=click.Choice([NO_FACE, *FACE_BACKENDS]),
    default=DEFAULT_FACE_BACKEND,
    show_default=True,
    help=f"Face landmarks: {face_backends_help()}, or {NO_FACE} (store downscaled full frames, "
    "no crops).",
)
@click.option(
    "--face-device",
    default="auto",
    show_default=True,
    help="FAN device: auto (GPU when present), cpu, cuda, cuda:1 ...",
)
@click.option(
    "--face-detect-every",
    type=COUNT,
    default=5,
    show_default=True,
    help="Keyframe spacing: the face detector runs on every Nth frame and landmarks track "
    "in between. Only every 25th frame's keyframe searches the whole frame (speaker choice); "
    "the others search a window around the tracked face, falling back to the whole frame when "
    "it is lost (FaceConfig.full_detect_every; 0 searches every keyframe whole).",
)
@click.option(
    "--face-min-size",
    type=COUNT,
    default=40,
    show_default=True,
    help="Smallest usable face width in source pixels.",
)
@click.option("--face-max-yaw", type=ANGLE, default=45.0, show_default=True)
@click.option("--face-max-pitch", type=ANGLE, default=30.0, show_default=True)
@click.option("--face-max-roll", type=ANGLE, default=45.0, show_default=True)
@click.option(
    "--face-crop-format",
    type=click.Choice(["mp4", "jpg"]),
    default="mp4",
    show_default=True,
    help="Crops as one H.264 MP4 per stream (small) or one JPEG per frame.",
)
@click.option(
    "--face-crop-preset",
    type=click.Choice(X264_PRESET_NAMES),
    default=None,
    help="x264 preset of the MP4 crops: CPU against bytes. Default veryfast without inter "
    "sub-partitions, adaptive B-frames or scene-cut search (measured on LRW-like crops: ~35 % "
    "less CPU than plain veryfast for ~3 % more bytes); superfast is about as fast for ~8 % "
    "more bytes at equal quality; faster and slower presets give smaller files for more CPU.",
)
@click.option(
    "--dlib-landmarks",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="dlib 68-point model file (default: $AVPREP_DLIB_LANDMARKS, the "
    "face_recognition_models package, /usr/share/dlib).",
)
@click.option(
    "--fan-weights",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="FAN 2D weights file (default: $TORCH_HOME/hub/checkpoints).",
)
@click.option(
    "--features",
    default="mfcc_davs,mfcc_syncnet,mfcc_cran,logspec_dvae",
    show_default=True,
    help="Audio feature tracks (100 Hz) to store, comma-separated: mfcc_davs (DAVS, HTK "
    "MATLAB), mfcc_syncnet (python_speech_features defaults), mfcc_cran, logspec_dvae, or "
    "names from --feature-config; 'none' for no features.",
)
@click.option(
    "--feature-config",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="JSON file defining extra feature configurations (see README).",
)
@click.option(
    "--noise-db",
    "noise_db",
    type=FINITE,
    multiple=True,
    help="Also store feature tracks of the audio with white noise at this SNR in dB "
    "(repeatable; DVAE uses -60, -30, -10).",
)
@click.option(
    "--noise-features",
    default="",
    help="Features that get noisy copies, comma-separated (default: all of --features).",
)
@click.option("--noise-seed", type=SEED, default=0, show_default=True)
@click.option(
    "--aligner",
    type=click.Choice(["none", "pocketsphinx", "mfa"]),
    default="pocketsphinx",
    show_default=True,
    help="Forced aligner for phone/viseme labels of clips with transcripts.",
)
@click.option(
    "--recognize",
    type=click.Choice(["auto", "off"]),
    default="auto",
    show_default=True,
    help="Clips without a transcript: recognise their phones (auto) or leave them unlabelled.",
)
@click.option(
    "--recognizer",
    type=click.Choice(["words", "phones"]),
    default="words",
    show_default=True,
    help="Recognition for clips without a transcript: word LM + alignment, or a phone loop.",
)
@click.option(
    "--mfa-acoustic-model",
    default="english_us_arpa",
    show_default=True,
    help="MFA acoustic model (saved name or .zip path), with --aligner mfa.",
)
@click.option(
    "--mfa-dictionary",
    default="english_us_arpa",
    show_default=True,
    help="MFA pronunciation dictionary (saved name or path), with --aligner mfa.",
)
@click.option("--mfa-jobs", type=COUNT, default=1, show_default=True, help="MFA parallel jobs.")
@click.option(
    "--align-batch",
    type=COUNT,
    default=32,
    show_default=True,
    help="Clips per aligner call for MFA (one mfa process per batch, folders per speaker).",
)
@click.option(
    "--max-seconds",
    type=POSITIVE_SECONDS,
    default=120.0,
    show_default=True,
    help="Reject clips longer than this (memory per clip grows with length).",
)
@click.option(
    "--max-side",
    type=PIXELS,
    default=640,
    show_default=True,
    help="Downscale decoded frames so the longer side is at most this.",
)
@click.option(
    "--min-frames",
    type=COUNT,
    default=1,
    show_default=True,
    help="Reject clips with fewer frames (at 25 fps).",
)
@click.option(
    "--frame-side",
    type=PIXELS,
    default=256,
    show_default=True,
    help="Longer side of stored full frames (when --face-backend none).",
)
@click.option("--overwrite", is_flag=True, help="Delete a previous build in --out and start over.")
@click.option("--no-progress", is_flag=True, help="Do not show the progress bar.")
@click.option("--no-report", is_flag=True, help="Do not write OUT/report.html (avprep report).")
@click.pass_context
def build(
    ctx: click.Context,
    dataset: str,
    root: str | None,
    out: str | None,
    workers: int | None,
    shared_out: bool,
    shard_size: int,
    limit: int | None,
    splits: tuple[str, ...],
    speakers: str | None,
    transcripts: str | None,
    split_file: str | None,
    adapter_options: tuple[str, ...],
    face_backend: str,
    face_device: str,
    face_detect_every: int,
    face_min_size: int,
    face_max_yaw: float,
    face_max_pitch: float,
    face_max_roll: float,
    face_crop_format: str,
    face_crop_preset: str | None,
    dlib_landmarks: str | None,
    fan_weights: str | None,
    features: str,
    feature_config: str | None,
    noise_db: tuple[float, ...],
    noise_features: str,
    noise_seed: int,
    aligner: str,
    recognize: str,
    recognizer: str,
    mfa_acoustic_model: str,
    mfa_dictionary: str,
    mfa_jobs: int,
    align_batch: int,
    max_seconds: float,
    max_side: int,
    min_frames: int,
    frame_side: int,
    overwrite: bool,
    no_progress: bool,
    no_report: bool,
) -> None:
    """Build webdataset shards + manifest for DATASET (see `avprep datasets`)."""
    from avprep.config import BuildConfig
    from avprep.datasets import get_adapter
    from avprep.datasets.base import EmptyCorpusError
    from avprep.media import DecodeConfig
    from avprep.shards import ShardFormatError
    from pipelines.build import PipelineOptionsError, run_build
    from pipelines.build_folder import BuildLockedError, OutFolderError
    from pipelines.build_steps import BuildMismatchError, OutputWriteError, SetupError

    try:
        adapter = get_adapter(dataset)
    except KeyError as e:
        raise click.UsageError(str(e.args[0])) from None
    if face_crop_preset and face_crop_format != "mp4":
        raise click.UsageError(
            "--face-crop-preset sets the MP4 crops' encoder: not with "
            f"--face-crop-format {face_crop_format}"
        )
    if adapter.needs_root and not root:
        raise click.UsageError(f"{dataset} needs --root. Expected layout: {adapter.layout}")
    out = out or default_build_dir(dataset)
    config = BuildConfig(
        dataset=dataset,
        root=root,
        out=out,
        shard_size=shard_size,
        decode=DecodeConfig(max_seconds=max_seconds, max_side=max_side, min_frames=min_frames),
        frame_side=frame_side,
        face_backend=face_backend,
        face_options={
            "device": face_device,
            "detect_every": face_detect_every,
            "min_face_size": face_min_size,
            "max_yaw": face_max_yaw,
            "max_pitch": face_max_pitch,
            "max_roll": face_max_roll,
            "image_format": face_crop_format,
            # only when given: a build started before this option resumes with its fingerprint
            **({"mp4_preset": face_crop_preset} if face_crop_preset else {}),
            "dlib_model": dlib_landmarks,
            "fan_weights": fan_weights,
        },
        features=() if features.strip() == "none" else _csv(features),
        feature_configs=_read_json(feature_config) if feature_config else None,
        noise_features=_csv(noise_features),
        noise_levels_db=tuple(noise_db),
        noise_seed=noise_seed,
        aligner=aligner,
        aligner_options=_mfa_options(aligner, mfa_acoustic_model, mfa_dictionary, mfa_jobs),
        align_batch=align_batch,
        recognize=recognize,
        recognizer=recognizer,
        limit=limit,
        splits=tuple(splits),
        speakers=_csv(speakers),
        transcripts=transcripts,
        discover_options=_key_values(adapter_options, split_file),
    )
    bar = None

    def on_progress(done: int, total: int) -> None:
        nonlocal bar
        if no_progress:
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="clip", desc=f"build {dataset}", file=sys.stderr)
        if done > bar.n:
            bar.update(done - bar.n)

    try:
        result = run_build(
            config,
            ctx.args,
            workers=workers,
            overwrite=overwrite,
            on_progress=on_progress,
            report=not no_report,
            shared_out=shared_out,
        )
    except (
        EmptyCorpusError,
        BuildMismatchError,
        BuildLockedError,
        OutFolderError,
        ShardFormatError,
    ) as e:
        raise click.ClickException(str(e)) from None
    except OutputWriteError as e:
        raise click.ClickException(e.strerror or str(e)) from None
    except SetupError as e:
        raise click.ClickException(str(e)) from None
    except PipelineOptionsError as e:
        raise click.ClickException(f"pipeline options: {e}") from None
    except ValueError as e:  # a user file (sidecar, split file) or corpus that cannot be used
        raise click.ClickException(str(e)) from None
    finally:
        if bar is not None:
            bar.close()
    if result.shards_skipped:
        click.echo(
            f"resumed: {result.shards_skipped}/{result.shards_total} shards were already complete"
        )
    for message in result.messages:
        click.echo(message)
    if result.info is None:
        if not result.messages:
            click.echo(f"job submitted; output will be in {out}")
        return
    c = result.info["counts"]
    click.echo(
        f"{c['discovered']} clips: {c['ok']} ok, {c['rejected']} rejected "
        f"-> {c['shards']} shards in {out}"
    )
    for reason, n in c["rejected_by_reason"].items():
        click.echo(f"  rejected {reason}: {n}")
    n_recognized = c.get("labels_by_source", {}).get("recognized", 0)
    if n_recognized:
        click.echo(
            f"note: {n_recognized} clips had no transcript; their phone labels were recognised "
            f"({config.recognizer} recogniser, median confidence "
            f"{c['recognized_confidence_median']}). Give --transcripts FILE for transcript "
            "labels, or --recognize off to leave such clips unlabelled."
        )
    if result.report:
        click.echo(f"report: {result.report}")


def _mfa_options(aligner: str, model: str, dictionary: str, jobs: int) -> dict:
    if aligner != "mfa":
        return {}
    return {"acoustic_model": model, "dictionary": dictionary, "num_jobs": jobs}


@main.command("align")
@click.option(
    "--root",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Folder of audio/video files, with same-name .txt transcripts where available.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Where to write <relative path>.TextGrid files and align_report.json.",
)
@click.option(
    "--aligner",
    type=click.Choice(["pocketsphinx", "mfa"]),
    default="pocketsphinx",
    show_default=True,
)
@click.option("--mfa-acoustic-model", default="english_us_arpa", show_default=True)
@click.option("--mfa-dictionary", default="english_us_arpa", show_default=True)
@click.option("--mfa-jobs", type=COUNT, default=1, show_default=True)
@click.option(
    "--batch-size",
    type=COUNT,
    default=32,
    show_default=True,
    help="Clips per aligner call (MFA runs once per batch, one folder per speaker).",
)
@click.option(
    "--recognize",
    type=click.Choice(["auto", "off"]),
    default="auto",
    show_default=True,
    help="Files without a .txt: recognise their words and phones (auto) or skip them.",
)
@click.option(
    "--recognizer",
    type=click.Choice(["words", "phones"]),
    default="words",
    show_default=True,
    help="Recognition for files without a .txt: word LM + alignment, or a phone loop.",
)
def align_cmd(
    root: str,
    out: str,
    aligner: str,
    mfa_acoustic_model: str,
    mfa_dictionary: str,
    mfa_jobs: int,
    batch_size: int,
    recognize: str,
    recognizer: str,
) -> None:
    """Force-align a folder of recordings + transcripts (recognise those without a .txt);
    write MFA-style TextGrids.

    \b
    Tiers: `words` and `phones` (39 ARPAbet phones without stress, SIL for silence).
    Example: avprep align --root ~/recordings --out ~/recordings-textgrids
    """
    from tqdm import tqdm

    from avprep.phonetics.folder import align_folder
    from avprep.phonetics.mfa_aligner import MfaUnavailable

    bar = tqdm(unit="file", desc="align", file=sys.stderr)

    def progress(done: int, total: int, rel: str) -> None:
        bar.total = total
        bar.update(done - bar.n)

    options = _mfa_options(aligner, mfa_acoustic_model, mfa_dictionary, mfa_jobs)
    try:
        report = align_folder(
            root,
            out,
            aligner=aligner,
            aligner_options=options,
            progress=progress,
            batch_size=batch_size,
            recognize=recognize,
            recognizer=recognizer,
        )
    except MfaUnavailable as e:
        raise click.ClickException(str(e)) from None
    finally:
        bar.close()
    click.echo(
        f"{len(report.aligned)} aligned, {len(report.recognized)} recognised (no .txt), "
        f"{len(report.rejected)} rejected, {len(report.no_transcript)} skipped without "
        f"transcript -> {out}"
    )
    for rel, why in sorted(report.rejected.items()):
        detail = f": {why['detail']}" if why["detail"] else ""
        click.echo(f"  rejected {rel}: {why['reason']}{detail}")


@main.command("select-samples")
@click.argument("corpus")
@click.option("--build", "build_dir", help="Build folder (default $AVPREP_HOME/<corpus>).")
@click.option("--n-min", type=COUNT, default=None, help="Smallest subset size (paper: 5000).")
@click.option("--n-max", type=COUNT, default=None, help="Largest subset size (paper: 15114).")
@click.option("--k", type=COUNT, default=None, help="Random trials (paper: 50).")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option(
    "--distance",
    type=click.Choice(["l1", "l2", "kl", "js"]),
    default="l1",
    show_default=True,
    help="Distance of the subset's phone distribution to uniform.",
)
@click.option(
    "--ranking",
    type=click.Choice(["rarity", "lexicographic"]),
    default="rarity",
    show_default=True,
    help="How clips are ranked (see docs/selection.md).",
)
@click.option("--split", default="train", show_default=True)
@click.option("--out", "out_dir", help="Where to write selection.* (default: the build folder).")
@click.option(
    "--reshard",
    "reshard_dir",
    help="Also write a compact copy of the selected samples' shards here.",
)
@click.option("--samples-per-shard", type=int, default=1000, show_default=True)
@click.option(
    "--min-confidence",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Only clips whose phone labels are at least this confident (transcripts: 1.0; "
    "recognised labels: the recogniser's confidence, see the manifest's label_confidence).",
)
def select_samples_cmd(
    corpus: str,
    build_dir: str | None,
    n_min: int | None,
    n_max: int | None,
    k: int | None,
    seed: int,
    distance: str,
    ranking: str,
    split: str,
    out_dir: str | None,
    reshard_dir: str | None,
    samples_per_shard: int,
    min_confidence: float | None,
) -> None:
    """Phoneme-histogram sample selection (CRAN, Song et al. 2019, Algorithm 1).

    Works from the build's manifest alone (its phone histograms come from
    `avprep build ... --aligner pocketsphinx`, recognised for clips without transcripts).
    Writes selection.parquet (key, rank, selected), selection.json (summary) and
    selection.png (histograms before/after).
    """
    from avprep import selection as sel
    from avprep.reshard import reshard, reshard_summary

    if samples_per_shard < 1:  # checked here, not by its type: keeps the option line as is
        raise click.BadParameter("must be >= 1", param_hint="'--samples-per-shard'")
    build = _build_folder(build_dir, None) if build_dir else _build_folder(None, corpus)
    try:
        result = sel.select_samples(
            build,
            n_min=sel.PAPER_N_MIN if n_min is None else n_min,
            n_max=sel.PAPER_N_MAX if n_max is None else n_max,
            k=sel.PAPER_K if k is None else k,
            seed=seed,
            distance=distance,
            split=split,
            ranking=ranking,
            min_confidence=min_confidence,
        )
    except (ValueError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(sel.format_result(result))
    paths = sel.write_selection(result, out_dir or build)
    for kind in ("parquet", "json", "png"):
        click.echo(f"wrote {paths[kind]}")
    if reshard_dir:
        try:
            done = reshard(build, paths["parquet"], reshard_dir, samples_per_shard)
        except (ValueError, FileExistsError) as e:  # incl. unsafe manifest values
            raise click.ClickException(str(e)) from None
        click.echo(reshard_summary(done))


@main.command("datasets")
def datasets_cmd() -> None:
    """List the corpus adapters, the layout each expects and the labels it yields."""
    from avprep.datasets import REGISTRY, get_adapter

    get_adapter("folder")  # imports every adapter module
    for name in sorted(REGISTRY):
        cls = REGISTRY[name]
        click.echo(click.style(name, bold=True) + f"  {cls.description}")
        layout = cls.layout.strip().splitlines()
        click.echo(f"    layout: {layout[0]}")
        for line in layout[1:]:
            click.echo(f"            {line.strip()}")
        click.echo(f"    labels: {', '.join(cls.labels)}")


@main.command("inspect")
@click.argument("build_dir", required=False)
@click.option("--dataset", help="Inspect $AVPREP_HOME/<dataset> instead of BUILD_DIR.")
@click.option(
    "--samples",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="How many samples to describe.",
)
def inspect_cmd(build_dir: str | None, dataset: str | None, samples: int) -> None:
    """Summarise a build: counts, rejections with reasons, and what a sample holds."""
    from avprep.build_summary import describe_build

    build = _build_folder(build_dir, dataset)
    try:
        click.echo(describe_build(build, samples))
    except FileNotFoundError as e:
        raise click.ClickException(str(e)) from None


TRAIN_EPILOG = """
\b
Examples:
  avprep train davs --data demo-words --steps 20 --batch-size 2 --device cpu --out runs/demo
  avprep train davs --data /data/lrw-avprep --stage word --out runs/davs-word
  avprep train davs --data /data/lrw-avprep --data /data/faces-avprep --stage joint \\
      --init runs/davs-word --out runs/davs-joint --set lr=1e-4
  avprep train davs --out runs/davs-joint --resume          # continue where it stopped
  tensorboard --logdir runs/davs-joint/tensorboard

\b
Several GPUs or machines: one process per GPU with torchrun (DDP; each rank reads its
own shards, every rank runs the same number of steps):
  torchrun --standalone --nproc_per_node 8 -m avprep.cli train davs --data /data/lrw-avprep \\
      --out runs/davs
  torchrun --nnodes 2 --node_rank R --master_addr HOST --master_port 29500 \\
      --nproc_per_node 8 -m avprep.cli train davs ...

\b
Settings: every value lives in two dataclasses saved in RUN_DIR/config.json: the
core's TrainConfig (steps, num_workers, device, precision, compile, log_every,
sample_every, val_every, checkpoint_every, keep_last, seed, ...) and the method's
config (stage, batch_size, learning rates, loss weights, ...). Change them with
--set KEY=VALUE (repeatable; train.KEY / METHOD.KEY when a name is in both) or
--config FILE (JSON like RUN_DIR/config.json: {"train": {...}, "method_config": {...}}).

\b
RUN_DIR holds config.json, checkpoints/step-*.pt (the last keep_last),
tensorboard/, scalars.jsonl and samples/step-*.png|mp4 (identity | truth | generated,
with the audio).
"""


class _TrainCommand(click.Command):
    """Lists the registered methods in ``--help`` (the registry imports no torch)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from models.methods import METHODS

        with formatter.section("Methods"):
            if METHODS:
                formatter.write_dl(
                    [
                        (name, f"stages: {', '.join(s.stages)}. {s.summary}".strip())
                        for name, s in sorted(METHODS.items())
                    ]
                )
            else:
                formatter.write_text("(none registered yet)")
        super().format_epilog(ctx, formatter)


def _resolve_data(items: tuple[str, ...]) -> tuple[str, ...]:
    """A bare build name (``demo``) that is no path here means ``$AVPREP_HOME/<name>``."""
    import os

    out = []
    for item in items:
        if not os.path.exists(item) and _bare_name(item):
            candidate = default_build_dir(item)
            if os.path.isdir(candidate):
                item = candidate
        out.append(item)
    return tuple(out)


def _build_folder(build_dir: str | None, dataset: str | None) -> str:
    """The build folder BUILD_DIR or ``--dataset`` names, or a clear error instead of a traceback.

    A bare BUILD_DIR that is no path here but names a build in $AVPREP_HOME (``avprep inspect
    demo``) means that build, as ``train --data demo`` does: a user who built with ``avprep
    build demo`` and never gave --out knows the build by that name only."""
    from avprep import storage

    if not build_dir and not dataset:
        raise click.UsageError("give BUILD_DIR or --dataset")
    if build_dir and dataset:
        raise click.UsageError("give BUILD_DIR or --dataset, not both")
    if dataset:
        path = default_build_dir(dataset)
        missing = f"no build of {dataset!r} at {path} ($AVPREP_HOME/<dataset>)"
    else:
        assert build_dir is not None
        path = _resolve_data((build_dir,))[0]
        missing = f"no build folder {build_dir!r}"
        if path == build_dir and _bare_name(build_dir):
            missing += f", nor a build of that name at {default_build_dir(build_dir)}"
    if not storage.isdir(path):
        name = dataset or build_dir
        hint = f"run `avprep build {name}` first" if _bare_name(name) else "check the path"
        raise click.ClickException(f"{missing}: {hint}")
    return path


def _bare_name(item: str) -> bool:
    """A build's name rather than a path: no folder separator, no glob."""
    return "/" not in item and "*" not in item and item not in (".", "..")


@main.command("train", cls=_TrainCommand, epilog=TRAIN_EPILOG)
@click.argument("method")
@click.option(
    "--data",
    multiple=True,
    help="Build folder (or shard glob/URL) to train on; repeatable. A bare name means "
    "$AVPREP_HOME/<name> (e.g. --data demo). Default on --resume: the run's own.",
)
@click.option(
    "--out",
    "out_dir",
    help="Run folder (checkpoints, logs, samples). Default: runs/<method>-<stage>.",
)
@click.option("--stage", help="Training stage of the method (default: its first).")
@click.option("--config", "config_file", help="JSON config (same layout as config.json).")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override one setting (repeatable), e.g. --set lr=1e-4 --set num_workers=8.",
)
@click.option("--steps", type=int, help="Total optimisation steps (TrainConfig.steps).")
@click.option("--batch-size", type=int, help="Clips per step per rank (method config).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Default: auto.")
@click.option("--workers", type=int, help="DataLoader workers per rank (num_workers).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option(
    "--init",
    "init_path",
    help="Start from a previous stage: a checkpoint file or a run folder (its latest).",
)
@click.option("--selection", help="select-samples output (selection.parquet or its folder).")
@click.option("--split", "splits", multiple=True, help="Splits to train on (default: train).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def train_cmd(
    method: str,
    data: tuple[str, ...],
    out_dir: str | None,
    stage: str | None,
    config_file: str | None,
    sets: tuple[str, ...],
    steps: int | None,
    batch_size: int | None,
    device: str | None,
    workers: int | None,
    resume: bool,
    init_path: str | None,
    selection: str | None,
    splits: tuple[str, ...],
    no_progress: bool,
) -> None:
    """Train METHOD on avprep builds: streams the shards, uses the GPU when there is one.

    Checks first that every --data build holds what the method's stage reads (and names
    the `avprep build` option that adds what is missing), then trains with checkpoints,
    TensorBoard and JSONL logs, sample grids and videos in the run folder.
    """
    import json
    import os

    from models.methods import method as method_spec

    try:
        spec = method_spec(method)
    except KeyError as e:
        raise click.UsageError(str(e.args[0])) from None
    from avprep.reader import ShardSourceError
    from models.training.builds import BuildCheckError
    from models.training.config import CONFIG_FILE, ConfigError, resolve_config
    from models.training.distributed import DeviceError
    from models.training.loop import EmptyDataError, RunFolderError, train

    out = out_dir or os.path.join("runs", f"{method}-{stage or next(iter(spec.stages))}")
    base = None
    if resume and os.path.exists(os.path.join(out, CONFIG_FILE)):
        with open(os.path.join(out, CONFIG_FILE)) as f:
            base = json.load(f)
        if base.get("method") != method:
            raise click.UsageError(f"{out} is a {base.get('method')} run, not {method}")
    train_values: dict = {}
    if data:
        train_values["data"] = _resolve_data(data)
    for key, value in (
        ("steps", steps), ("device", device), ("num_workers", workers),
        ("selection", selection), ("splits", tuple(splits) or None),
    ):  # fmt: skip
        if value is not None:
            train_values[key] = value
    if no_progress:
        train_values["progress"] = False
    all_sets = list(sets) + ([f"method.batch_size={batch_size}"] if batch_size else [])
    try:
        run = resolve_config(
            method, stage=stage, base=base, config_file=config_file,
            train_values=train_values, sets=all_sets,
        )  # fmt: skip
        result = train(run, out, resume=resume, init=init_path)
    except (
        ConfigError, BuildCheckError, RunFolderError, ShardSourceError, DeviceError,
        EmptyDataError,
    ) as e:  # fmt: skip
        raise click.ClickException(str(e)) from None
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    ckpt = f"; checkpoint {result.checkpoint}" if result.checkpoint else ""
    click.echo(f"trained {method} ({run.stage}) to step {result.step} in {out}{ckpt}")


@main.command("report")
@click.argument("build_dir", required=False)
@click.option("--dataset", help="Report on $AVPREP_HOME/<dataset> instead of BUILD_DIR.")
@click.option("--out", "out_path", help="Where to write the page. Default: BUILD_DIR/report.html.")
@click.option(
    "--samples",
    type=click.IntRange(min=0),
    default=12,
    show_default=True,
    help="Random clips shown (contact sheet); only their shards are read.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Which clips are drawn.")
def report_cmd(
    build_dir: str | None, dataset: str | None, out_path: str | None, samples: int, seed: int
) -> None:
    """One self-contained HTML page (opens offline) showing a build before training on it:
    yields and rejections, face crops and pose, audio features under the frames, phone and
    viseme histograms, configuration and versions. `avprep build` also writes it at the end
    (OUT/report.html; --no-report to skip)."""
    from avprep.report import write_report

    build = _build_folder(build_dir, dataset)
    try:
        result = write_report(build, out_path, samples, seed)
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    for error in result.errors:
        click.echo(f"unreadable: {error}", err=True)
    click.echo(
        f"wrote {result.path} ({result.shards_read} shards, {result.samples_read} samples read, "
        f"{result.seconds:.1f} s)"
    )


# ---- avprep eval: the papers' measures (models/eval); torch is imported only inside ----

EVAL_EPILOG = """
\b
Inputs: REAL and GENERATED are a video file each, or folders of videos and/or folders of
frame images, paired by name (relative path without extension). Every command prints a
table and writes the full result (summary, per-clip rows, skipped clips with the reason)
as JSON to --json. See docs/results.md for the papers' figures.
"""


def _eval_output(result: dict, json_path: str) -> None:
    from models.eval.runner import format_table, write_json

    click.echo(format_table(result))
    click.echo(f"wrote {write_json(result, json_path)}")


def _eval_run(fn, *args, **kwargs) -> dict:
    try:
        return fn(*args, **kwargs)
    except (ValueError, FileNotFoundError, ModuleNotFoundError) as e:
        raise click.ClickException(str(e)) from None


def _json_option(measure: str):
    return click.option(
        "--json",
        "json_path",
        default=f"eval_{measure}.json",
        show_default=True,
        help="Where to write the result as JSON.",
    )


_device_option = click.option(
    "--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N."
)
_progress_option = click.option("--no-progress", is_flag=True, help="No progress bar.")


@main.group("eval", epilog=EVAL_EPILOG)
def eval_group() -> None:
    """Measure generated talking faces the way the papers and the field do."""


@eval_group.command("quality", epilog=EVAL_EPILOG)
@click.argument("real")
@click.argument("generated")
@_json_option("quality")
@_progress_option
def eval_quality_cmd(real: str, generated: str, json_path: str, no_progress: bool) -> None:
    """PSNR and SSIM per frame (Wang 2004 Gaussian window), mean over frames then clips."""
    from models.eval.runner import evaluate_quality

    _eval_output(_eval_run(evaluate_quality, real, generated, not no_progress), json_path)


@eval_group.command("movement", epilog=EVAL_EPILOG)
@click.argument("real")
@click.argument("generated")
@_json_option("movement")
@_progress_option
def eval_movement_cmd(real: str, generated: str, json_path: str, no_progress: bool) -> None:
    """Movement intensity (CRAN Fig. 5): mean Farneback flow u^2+v^2 of real vs generated
    clips, and generated/real per clip."""
    from models.eval.runner import evaluate_movement

    _eval_output(_eval_run(evaluate_movement, real, generated, not no_progress), json_path)


@eval_group.command("lmd", epilog=EVAL_EPILOG)
@click.argument("real")
@click.argument("generated")
@click.option(
    "--face-backend",
    type=click.Choice(list(FACE_BACKENDS)),
    default=DEFAULT_FACE_BACKEND,
    show_default=True,
)
@click.option("--fan-weights", help="FAN 2D weights file (default: $TORCH_HOME/hub/checkpoints).")
@_device_option
@_json_option("lmd")
@_progress_option
def eval_lmd_cmd(
    real: str,
    generated: str,
    face_backend: str,
    fan_weights: str | None,
    device: str,
    json_path: str,
    no_progress: bool,
) -> None:
    """Mouth landmark distance (points 48-67) in crop pixels (DVAE Sec. 4.3)."""
    from models.eval.runner import evaluate_lmd

    result = _eval_run(
        evaluate_lmd, real, generated, face_backend, fan_weights, device, not no_progress
    )
    _eval_output(result, json_path)


@eval_group.command("sync", epilog=EVAL_EPILOG)
@click.argument("videos")
@click.option(
    "--syncnet-weights",
    envvar="AVPREP_SYNCNET",
    help="syncnet_v2.model (syncnet_python's public weights; also $AVPREP_SYNCNET).",
)
@click.option(
    "--crop",
    type=click.Choice(["resize", "detect"]),
    default="resize",
    show_default=True,
    help="resize: videos are face crops (Wav2Lip's LRS script); detect: crop the face track "
    "first (syncnet_python's run_pipeline geometry on avprep's dlib boxes).",
)
@click.option("--vshift", type=int, default=15, show_default=True, help="Offsets searched (+-).")
@_device_option
@_json_option("sync")
@_progress_option
def eval_sync_cmd(
    videos: str,
    syncnet_weights: str | None,
    crop: str,
    vshift: int,
    device: str,
    json_path: str,
    no_progress: bool,
) -> None:
    """LSE-C and LSE-D of generated videos with their own sound (Wav2Lip's evaluation)."""
    from models.eval.runner import evaluate_sync

    result = _eval_run(
        evaluate_sync, videos, syncnet_weights, crop, vshift, device, not no_progress
    )
    _eval_output(result, json_path)


@eval_group.command("fid", epilog=EVAL_EPILOG)
@click.argument("real")
@click.argument("generated")
@click.option(
    "--inception-weights",
    envvar="AVPREP_INCEPTION",
    help="torch-fidelity's weights-inception-2015-12-05-6726825d.pth (also $AVPREP_INCEPTION).",
)
@click.option("--batch-size", type=int, default=64, show_default=True)
@_device_option
@_json_option("fid")
@_progress_option
def eval_fid_cmd(
    real: str,
    generated: str,
    inception_weights: str | None,
    batch_size: int,
    device: str,
    json_path: str,
    no_progress: bool,
) -> None:
    """Frechet Inception Distance of all generated frames against all real frames."""
    from models.eval.runner import evaluate_fid

    result = _eval_run(
        evaluate_fid, real, generated, inception_weights, device, batch_size, not no_progress
    )
    _eval_output(result, json_path)


@eval_group.command("lipreading")
@click.argument("logits_npz")
@_json_option("lipreading")
def eval_lipreading_cmd(logits_npz: str, json_path: str) -> None:
    """Top-1 word accuracy (DAVS Table 3) from an .npz with 'labels' and any of
    'video_logits', 'audio_logits', 'combined_logits' (N x 500)."""
    from models.eval.runner import evaluate_lipreading

    _eval_output(_eval_run(evaluate_lipreading, logits_npz), json_path)


@eval_group.command("retrieval")
@click.argument("embeddings_npz")
@click.option("--chunk", type=int, default=2048, show_default=True, help="Queries per block.")
@_device_option
@_json_option("retrieval")
def eval_retrieval_cmd(embeddings_npz: str, chunk: int, device: str, json_path: str) -> None:
    """Audio<->video R@1, R@10, Med R (DAVS Table 3) from an .npz with row-aligned
    'audio' and 'video' embeddings."""
    from models.eval.runner import evaluate_retrieval

    _eval_output(_eval_run(evaluate_retrieval, embeddings_npz, chunk, device), json_path)


@eval_group.command("word-info")
@click.argument("features_npz")
@click.option("--test-fraction", type=float, default=0.2, show_default=True)
@click.option(
    "--test",
    "test_npz",
    help="Score on this .npz's 'features'/'words' and train on all of FEATURES_NPZ (e.g. the "
    "davs-features exports of two splits) instead of splitting FEATURES_NPZ.",
)
@_json_option("word_info")
def eval_word_info_cmd(
    features_npz: str, test_fraction: float, test_npz: str | None, json_path: str
) -> None:
    """Word information left in identity features: linear-SVM word accuracy (DAVS Sec. 4.2)
    from an .npz with 'features' and 'words' (or train_/test_ pairs)."""
    from models.eval.runner import evaluate_word_information

    result = _eval_run(evaluate_word_information, features_npz, test_fraction, test_npz)
    _eval_output(result, json_path)


@eval_group.command("davs-features")
@click.option(
    "--checkpoint",
    required=True,
    help="An `avprep train davs` checkpoint or its run folder (its latest), or the official "
    "101_DAVS_checkpoint.pth.tar.",
)
@click.option(
    "--data",
    required=True,
    help="A word-labelled build (LRW word ids, e.g. `avprep build lrw`); a bare name means "
    "$AVPREP_HOME/<name>.",
)
@click.option("--split", default="test", show_default=True, help="Split to run over.")
@click.option("--out", "out_dir", required=True, help="Folder for the .npz files.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@_device_option
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="DataLoader workers reading the shards.")  # fmt: skip
@_progress_option
def eval_davs_features_cmd(
    checkpoint: str,
    data: str,
    split: str,
    out_dir: str,
    batch_size: int,
    device: str,
    workers: int,
    no_progress: bool,
) -> None:
    """Run a trained DAVS model over every word clip of a build split and write what
    `eval lipreading`, `eval retrieval` and `eval word-info` read: OUT/logits.npz (word
    ids, video/audio/combined logits of the shared classifier), OUT/embeddings.npz
    (L2-normalised sequence word-id features, audio and video, row i = clip i),
    OUT/features.npz (identity-encoder features and word ids), OUT/export.json. An
    identity-stage checkpoint gives features.npz only (the pid encoder before the joint
    stage), a word-stage one the other two."""
    from models.davs.export import export_davs_features

    (resolved,) = _resolve_data((data,))
    result = _eval_run(
        export_davs_features, checkpoint, resolved, out_dir, split=split,
        batch_size=batch_size, device=device, workers=workers, progress=not no_progress,
    )  # fmt: skip
    click.echo(f"{result.clips} clips of {resolved} ({split}) through {', '.join(result.networks)}")
    commands = {
        "logits": "lipreading",
        "embeddings": "retrieval",
        "features": "word-info",
    }
    for kind, path in result.written.items():
        click.echo(f"wrote {path}  ->  avprep eval {commands[kind]} {path}")
    for kind, why in result.not_written.items():
        click.echo(f"no {kind} file: {why}")


@main.command("generate")
@click.argument("method", type=click.Choice(["davs", "cran", "dvae"], case_sensitive=False))
@click.option(
    "--checkpoint",
    required=True,
    help="Generator checkpoint. davs: the official 101_DAVS_checkpoint.pth.tar or an "
    "`avprep train davs` checkpoint; cran: an `avprep train cran` checkpoint (stage rae, or "
    "cae/cae_gan: frame by frame) or its run folder; dvae: the `--stage gan` checkpoint (it "
    "holds the frozen VAE and the spectrogram normalisation) or its run folder.",
)
@click.option("--image", default=None, help="Photo of the face to animate.")
@click.option("--video", default=None, help="Video instead of a photo: animate one frame.")
@click.option(
    "--reference-frame",
    type=click.IntRange(min=0),
    default=None,
    help="--video: the frame to animate (25 fps index; default: first good face).",
)
@click.option(
    "--audio",
    default=None,
    help="Speech (any FFmpeg-readable file); with --video defaults to its sound.",
)
@click.option(
    "--driving-video",
    default=None,
    help="davs only, instead of --audio: follow this video's lip movements (one frame per "
    "frame of it, its sound muxed in when it has any).",
)
@click.option(
    "--pairs",
    default=None,
    help="Batch: a folder of (photo, speech) files sharing "
    "a stem, or a CSV with image,audio[,name] columns; --out is then a folder.",
)
@click.option("--out", required=True, help="Output MP4 (batch: output folder).")
@click.option(
    "--real-out",
    default=None,
    help="--video only: also write the video's own face crops under exactly the generated "
    "frames (same template, size and speech; with --paste-back its whole frames): the REAL "
    "side of `avprep eval quality|lmd|movement REAL OUT`.",
)
@click.option("--paste-back", is_flag=True, help="Paste the face back into the full photo.")
@click.option("--no-finetune", is_flag=True, help="DAVS: skip the per-photo fine-tuning.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option(
    "--face-backend",
    type=click.Choice(list(FACE_BACKENDS)),
    default=DEFAULT_FACE_BACKEND,
    show_default=True,
)
@click.option(
    "--max-seconds",
    type=POSITIVE_SECONDS,
    default=120.0,
    show_default=True,
    help="Longest speech or driving video accepted (frames are held in memory).",
)
@click.option("--no-progress", is_flag=True, help="No progress bar (batch).")
def generate_cmd(
    method: str,
    checkpoint: str,
    image: str | None,
    video: str | None,
    reference_frame: int | None,
    audio: str | None,
    driving_video: str | None,
    pairs: str | None,
    out: str,
    real_out: str | None,
    paste_back: bool,
    no_finetune: bool,
    device: str,
    face_backend: str,
    max_seconds: float,
    no_progress: bool,
) -> None:
    """Generate a talking-face MP4 from a photo (or a video frame) and speech with a trained
    METHOD (davs, cran or dvae), with the speech under exactly the frames made: one frame
    per 25 fps frame of the speech whose feature window lies whole on it (davs: frames
    2..N-4 of N, cran: 4..N-5, dvae: 3..N-4). davs can instead follow a --driving-video.
    To measure a video's reconstruction, --video V --real-out REAL.mp4 writes V's own
    crops under the same frames, so `avprep eval quality REAL.mp4 OUT` compares like with
    like."""
    import json

    from models.generate import (
        GenerateError,
        GenerateOptions,
        generate_batch,
        generate_talking_face,
        load_method,
        read_pairs,
    )

    if pairs is not None and (image or video or audio or driving_video):
        raise click.UsageError("--pairs replaces --image/--video/--audio/--driving-video")
    if pairs is None and (image is None) == (video is None):
        raise click.UsageError(
            "give --image (with --audio or --driving-video), --video, or --pairs"
        )
    if driving_video is not None and audio is not None:
        raise click.UsageError("--driving-video replaces --audio")
    if image is not None and audio is None and driving_video is None:
        raise click.UsageError("--image needs --audio (or --driving-video)")
    if reference_frame is not None and video is None:
        raise click.UsageError("--reference-frame goes with --video")
    if real_out is not None and (video is None or driving_video is not None):
        raise click.UsageError("--real-out goes with --video (speech-driven)")
    options = GenerateOptions(
        device=device,
        finetune=not no_finetune,
        paste_back=paste_back,
        reference_frame=reference_frame,
        face_backend=face_backend,
        max_seconds=max_seconds,
    )
    try:
        todo = read_pairs(pairs) if pairs is not None else None
        generator = load_method(method, checkpoint, options)
        if todo is not None:
            summary = generate_batch(generator, todo, out, options, progress=not no_progress)
            click.echo(
                f"{len(summary.ok)} written, {len(summary.failed)} failed (see {out}/summary.json)"
            )
            for row in summary.failed:
                click.echo(f"  {row['name']}: {row['error']}", err=True)
            if not summary.ok:
                sys.exit(1)
            return
        result = generate_talking_face(
            generator, out, audio, image=image, video=video, options=options,
            driving_video=driving_video, real_out=real_out,
        )  # fmt: skip
    except GenerateError as e:
        raise click.ClickException(str(e)) from e
    click.echo(json.dumps(result))


if __name__ == "__main__":  # pragma: no cover
    main()
