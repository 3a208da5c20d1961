"""DVAE's training configuration (Mittal & Wang 2020), one dataclass for its three stages.

Values the paper states (Sec. 4.2) are marked "paper"; where it is silent we follow the work
it builds on and name it: FHVAE (Hsu et al. 2017, code ``wnhsu/FactorizedHierarchicalVAE``),
pix2pix/PatchGAN (Isola et al. 2017, cited as [20]), WGAN-GP (Gulrajani et al. 2017, [17]),
AC-GAN (Odena et al. 2017) for the critic's viseme head. Anything else is our choice and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

STAGES = ("vae", "landmarks", "gan")

# batch size per stage when ``batch_size`` is left at 0
STAGE_BATCH = {
    "vae": 256,  # FHVAE conf/train/fhvae/*.cfg: bs = 256 segments
    "landmarks": 16,  # ours: 16 clips x seq_len frames
    "gan": 4,  # ours: 4 sequences of seq_len 256x256 frames (memory-bound on one GPU)
}


@dataclass
class DvaeTrainConfig:
    """Everything a DVAE stage needs; the core saves it in the run folder."""

    stage: str = "vae"  # "vae" (stage 1), "landmarks" (mouth-landmark regressor), "gan" (stage 2)
    batch_size: int = 0  # 0: the stage's default (STAGE_BATCH)
    # the stage whose default batch_size holds (None: set by the user), so that choosing the
    # stage after the defaults were applied (the core's ``--stage``) picks that stage's default
    batch_size_default_of: str | None = None

    # --- input (paper Sec. 4.2: 200-bin log-magnitude spectrogram every 10 ms, T = 20)
    track: str = "logspec_dvae"
    n_bins: int = 200
    segment_steps: int = 20
    # per-bin mean/std over this many training clips (None: all of the training split(s)); FHVAE
    # normalises with statistics of the whole training set
    norm_max_clips: int | None = None

    # --- stage 1 networks (paper: 2-layer LSTMs, hidden 256, every latent 32-d)
    lstm_layers: int = 2
    lstm_hidden: int = 256
    z_content: int = 32
    z_emotion: int = 32
    z_sequence: int = 32
    n_visemes: int = 21  # 20 groups + silence (VisemeNet via JALI)
    n_emotions: int = 6  # CREMA-D

    # --- stage 1 objective (paper Eq. 3-6)
    prior_var: float = 1.0  # paper: variance of the priors p(mu) (FHVAE log_normal: N(0, I))
    latent_var: float = 0.25  # paper: variance of p(z | mu) (FHVAE latent1_std = 0.5)
    alpha: float = 10.0  # paper: discriminative terms (FHVAE alpha_dis = 10)
    beta: float = 1.0  # paper: margin ranking losses
    gamma: float = 0.5  # paper: the margin
    margin_loss: bool = True  # False: the paper's "w/o margin ranking loss" ablation (Table 3)
    lr_vae: float = 1e-3  # paper ("fixed")
    # FHVAE conf/train/fhvae/*.cfg opt_opts: b1 = 0.95, b2 = 0.999
    betas_vae: tuple[float, float] = (0.95, 0.999)
    # Table 3 probes: linear classifiers on the frozen (detached) posterior means of z_c and
    # z_e, trained alongside with their own Adam (ours: lr 1e-3)
    lr_probe: float = 1e-3
    # the clips' emotion when the corpus has none (paper: GRID is labelled neutral)
    default_emotion: str | None = "NEU"
    segments_per_clip: int | None = None  # None: every valid segment of a clip
    # clips whose visemes were recognised without a transcript are noisier than aligned ones:
    # skipped unless this is true (models.dvae.view.DvaeConfig)
    allow_recognized_visemes: bool = False

    # --- stage 2 data
    seq_len: int = 8  # frames per training sequence (ours; D_video sees this many)
    val_noise_db: tuple[float, ...] = (-60.0, -30.0, -10.0)  # paper Sec. 4.3, Table 1
    noise_seed: int = 0  # for noise added at read time when a build lacks the stored track
    defer_jpeg: bool = False  # JPEG builds: decode crops on the device (models.data.to_device)
    vae_checkpoint: str | None = None  # stage-1 run checkpoint (z_c encoder + normalisation)
    landmark_checkpoint: str | None = None  # "landmarks" stage checkpoint

    # --- stage 2 networks (paper: U-Net G [27], PatchGAN-like D_frame [20], 3-D D_video [30])
    ngf: int = 64  # pix2pix unet_256: 8 down-samplings, 64 base filters
    unet_depth: int = 8  # 256 -> 1 at the bottleneck, as pix2pix's unet_256
    ndf: int = 64  # PatchGAN base filters
    d_frame_layers: int = 3  # PatchGAN n_layers = 3 (70x70 receptive field)
    d_video_channels: tuple[int, ...] = (32, 64, 128, 256)  # ours
    landmark_width: int = 32  # regressor's first conv width (ours)

    # --- stage 2 objective
    lr_gan: float = 1e-4  # paper
    betas_gan: tuple[float, float] = (0.0, 0.9)  # WGAN-GP [17], Algorithm 1
    n_critic: int = 5  # WGAN-GP [17]: critic updates per generator update
    gp_weight: float = 10.0  # WGAN-GP [17]: lambda
    l1_weight: float = 100.0  # pix2pix [20]: lambda_L1
    landmark_weight: float = 100.0  # ours; landmarks in crop units (pixels / 256)
    viseme_weight: float = 1.0  # AC-GAN: auxiliary class loss at weight 1
    lr_landmarks: float = 1e-3  # ours (Adam)
    # Perceptual loss (Sec. 3.3; the paper does not name the network): VGG-Face as in CRAN
    # (models.training.perceptual), on only when the user supplies the public
    # vgg_face_dag.pth. Weight (ours): CRAN's ratio to its L1 (1e-4 : 1) at DVAE's L1 weight
    # 100. Frames are resized 256 -> perceptual_size (224: VGG-Face's training input, so its
    # filters see faces at their scale) and shifted by VGG-Face's own RGB mean in 0..255.
    perceptual: bool = False
    perceptual_weight: float = 1e-2
    vgg_face_weights: str | None = None
    perceptual_layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
    perceptual_size: int | None = 224  # None: at the frames' own size

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"DVAE stage must be one of {STAGES}, got {self.stage!r}")
        auto = self.batch_size_default_of
        if auto is not None and self.batch_size != STAGE_BATCH.get(auto):
            auto = None  # set by the user since
        if self.batch_size <= 0 or (auto is not None and auto != self.stage):
            self.batch_size = STAGE_BATCH[self.stage]
            auto = self.stage
        self.batch_size_default_of = auto
        if self.seq_len < 2:
            raise ValueError("seq_len must be >= 2 (D_video and the auto-regression need pairs)")
        self.betas_vae = tuple(self.betas_vae)  # type: ignore[assignment]
        self.betas_gan = tuple(self.betas_gan)  # type: ignore[assignment]
        self.val_noise_db = tuple(float(x) for x in self.val_noise_db)  # type: ignore[assignment]
        self.d_video_channels = tuple(self.d_video_channels)  # type: ignore[assignment]
        self.perceptual_layers = tuple(self.perceptual_layers)
        if self.perceptual_weight < 0:
            raise ValueError(f"perceptual_weight must be >= 0, not {self.perceptual_weight}")


def check_build(info: dict, stage: str) -> list[str]:
    """Problems that keep a build (its ``build.json`` content) from serving ``stage``, each
    naming the ``avprep build`` option that fixes it."""
    cfg = info.get("config") or {}
    problems = []
    if "logspec_dvae" not in (cfg.get("features") or ()):
        problems.append("no logspec_dvae track: build with --features logspec_dvae")
    if stage == "vae" and (cfg.get("aligner") or "none") == "none":
        problems.append(
            "no viseme labels (phonetics stage off): build with --aligner pocketsphinx (or mfa)"
        )
    if stage in ("landmarks", "gan") and (cfg.get("face_backend") or "none") == "none":
        problems.append(
            "no crop256 frames or landmarks_crop256 (face stage off): build with "
            "--face-backend dlib (or fan)"
        )
    if stage == "gan" and (cfg.get("aligner") or "none") == "none":
        problems.append(
            "no viseme labels for D_frame's viseme head: build with --aligner pocketsphinx (or mfa)"
        )
    return problems
