"""The one config dataclass of a CRAN run (Song et al. 2019): stage, batch, every hyper-parameter.

Stages follow the paper's incremental training scheme (Sec. 4.2 "Training scheme"):

- ``cae``: the conditional auto-encoder (Speech2Vid baseline, Sec. 3.1): each frame generated on
  its own from the reference face and its 350 ms MFCC window, L1 reconstruction only
  (paper: 50 epochs);
- ``cae_gan``: the same network plus the multi-task discriminator (adversarial loss, weight
  1e-3) and, when VGG-Face weights are given, the perceptual loss (weight 1e-4) (paper: 30 more
  epochs, started from the ``cae`` checkpoint);
- ``rae``: the recurrent model RAE_IA: a GRU over [z_A(t), z_I] for 70-frame sequences from the
  clip's longest good run, initialised from the CAE (paper: 50 epochs), same losses.

Epoch/step counts, devices, precision and intervals belong to the core's config.
"""

from __future__ import annotations

from dataclasses import dataclass

STAGES = ("cae", "cae_gan", "rae")


@dataclass
class CranTrainConfig:
    stage: str = "cae"
    # Clips per batch. In the CAE stages every clip gives ``cae_frames`` frames, each
    # generated independently (so a step sees batch_size x cae_frames frames); in ``rae`` a
    # clip is one ``seq_len`` sequence. The paper does not give a batch size.
    batch_size: int = 16

    # optimiser (Sec. 4.2: Adam, alpha = 0.0002, beta = 0.5); beta2 is Adam's default
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999

    # data (read through models.cran.view.CranView)
    seq_len: int = 70  # rae: "The length of training image sequence is 70"
    cae_frames: int = 4  # cae stages: consecutive frames per clip (>= 2 so that validation
    # can measure movement intensity; each frame is still its own training sample)
    mismatch: str = "shift"  # matching-aware negatives: "shift" | "shuffle" (Sec. 3.2)
    min_shift: int = 9  # frames; 9 x 40 ms >= the 350 ms window
    stream: str = "crop112"
    track: str = "mfcc_cran"

    # networks (appendix Tables 5-8); channel_divisor > 1 shrinks every width (tests only)
    code_dim: int = 256  # z_A and z_I (Tables 5, 6: "Output ... 256")
    gru_hidden: int = 512  # = 256 + 256, the decoder's input width (Table 7, row 0)
    channel_divisor: int = 1

    # losses (Sec. 3.2, Eq. 5: F = L_rec + gamma L_per + lambda L_G + lambda L_D)
    rec_weight: float = 1.0
    perceptual: bool = False  # needs vgg_face_weights (the public vgg_face_dag.pth)
    perceptual_weight: float = 1e-4  # gamma
    vgg_face_weights: str | None = None
    perceptual_layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
    adversarial: bool | None = None  # None: the stage's default (off in cae, on otherwise)
    adversarial_weight: float = 1e-3  # lambda
    # False: the generator minimises log(1 - D(G)) as Eq. 2 states; True: the usual
    # non-saturating -log D(G) (Goodfellow et al. 2014, Sec. 3)
    gan_non_saturating: bool = False

    # validation: the Fig. 5 movement intensity (Farneback flow, ~4 ms per 112x112 frame
    # pair on one core) on the first this-many sequences of each validation batch
    val_motion_items: int = 4

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"CRAN stage must be one of {', '.join(STAGES)}, not {self.stage!r}")
        if self.mismatch not in ("shift", "shuffle"):
            raise ValueError(f"mismatch must be 'shift' or 'shuffle', not {self.mismatch!r}")
        for name in ("batch_size", "seq_len", "cae_frames", "channel_divisor", "code_dim"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, not {getattr(self, name)}")
        if self.batch_size < 2:
            raise ValueError(
                "batch_size must be >= 2: E_I's BatchNorm needs two reference faces per batch"
            )
        if self.gru_hidden != 2 * self.code_dim:
            raise ValueError(
                f"gru_hidden must equal 2 x code_dim ({2 * self.code_dim}): the GRU output "
                "replaces [z_A, z_I] at the decoder's input, so the RAE reuses the CAE decoder"
            )
        self.perceptual_layers = tuple(self.perceptual_layers)

    @property
    def use_adversarial(self) -> bool:
        return self.stage != "cae" if self.adversarial is None else bool(self.adversarial)

    @property
    def frames_per_item(self) -> int:
        return self.seq_len if self.stage == "rae" else self.cae_frames
