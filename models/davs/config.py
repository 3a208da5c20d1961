"""Every DAVS hyper-parameter in one dataclass (defaults = the official ``Options.py``)."""

from __future__ import annotations

from dataclasses import dataclass

STAGES = ("joint", "word", "identity")
# the networks need a power of two >= 64; the builds' DAVS crops are 256 (never upsampled)
IMAGE_SIZES = (64, 128, 256)


@dataclass
class DavsTrainConfig:
    """Defaults follow the official training options (``Options.py``) and
    ``Gen_final_v1.py``; the paper gives no numbers for most of them."""

    stage: str = "joint"  # "joint" | "word" (wid pretraining) | "identity" (pid pretraining)
    batch_size: int = 16  # official batchSize
    # network size: 1.0 / 256 = the official networks (only tests and demos change these)
    width: float = 1.0
    image_size: int = 256
    word_classes: int = 500  # LRW's words (label_size)
    person_classes: int = 0  # identity stage: 0 = 1 + the largest person_id in the builds
    # frames per step (Gen_final_v1.set_input / forward)
    pred_length: int = 12  # frames for word classification and the contrastive loss
    pred_stride: int = 2  # ...taken every other frame from a random start in {0, 1}
    sequence_length: int = 6  # consecutive of those 12 that are generated
    disfc_length: int = 20  # consecutive frames for the word-from-pid classifier
    # optimisation (two Adams, D then G each step; official beta1 is 0.9, no weight decay)
    lr: float = 2e-4
    beta1: float = 0.9
    beta2: float = 0.999
    # loss weights (Options.py; the temporal and domain weights are literals in backward_G)
    lambda_whole: float = 4.0  # lambda_A: L1 on the whole frame
    lambda_mouth: float = 8.0  # lambda_B: L1 on the mouth region
    lambda_temporal: float = 5.0  # G_x_loss: frame-to-frame L1 outside the mouth
    lambda_domain: float = 5.0  # domain-adversarial term on the wid features
    lambda_word_from_pid: float = 1.0  # lambda_CE: training C_p^w
    lambda_uniform: float = 1e6  # lambda_CE_inv: pid features must give C_p^w uniform output
    contrastive_margin: float = 1.0  # L2margin
    soft_label: float = 0.1  # soft GAN labels for the discriminator: U(0, 0.1) inwards
    sequence_gan: bool = True  # require_sequence_GAN
    single_gan: bool = False  # require_single_GAN (official training default: off)
    # modules whose parameters stay fixed in this stage (e.g. "mfcc_encoder")
    frozen: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"DAVS stage must be one of {', '.join(STAGES)}, not {self.stage!r}")
        if self.image_size not in IMAGE_SIZES:
            raise ValueError(
                f"DAVS image_size must be one of {', '.join(map(str, IMAGE_SIZES))}, not "
                f"{self.image_size}: the networks halve it in powers of two down to 4 px, and "
                "the builds' DAVS crops are 256x256 (smaller sizes see them downsampled)"
            )
        if self.sequence_length > self.pred_length:
            raise ValueError("sequence_length must not exceed pred_length")
        self.frozen = tuple(self.frozen)

    @property
    def clip_frames(self) -> int:
        """Consecutive frames one clip item must hold for a joint/word step."""
        cls = (self.pred_length - 1) * self.pred_stride + self.pred_stride
        return max(cls, self.disfc_length if self.stage == "joint" else 0)


@dataclass
class DavsInferenceConfig:
    """The official test procedure (``test_all.py``, ``Test_Gen_Models``)."""

    finetune_steps: int = 5  # test_train on the first 5 windows
    lr: float = 2e-4
    beta1: float = 0.9
    lambda_whole: float = 4.0
    finetune_mouth_weight: float = 0.001  # test_mask inside the mouth box
    audio_scale: float = 1.5  # wid features are scaled before decoding (audio: 1.5)
    video_scale: float = 0.8  # (video: 0.8)
    batch_frames: int = 32  # windows decoded per forward pass (memory bound only)
