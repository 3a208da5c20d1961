"""LSE-C and LSE-D: lip-sync confidence and distance with SyncNet (Chung & Zisserman 2016),
computed as Wav2Lip's evaluation computes them (Prajwal et al. 2020,
``evaluation/scores_LSE/SyncNetInstance_calc_scores.py`` + ``calculate_scores_LRS.py``,
built on ``joonson/syncnet_python``).

The recipe, per video (25 fps, 16 kHz):

1. **frames**: BGR (``cv2.imread`` order), each resized to 224x224 (``cv2.resize``, bilinear),
   float 0..255, no normalisation. Wav2Lip's LRS script resizes the whole frame (its videos
   are face crops already): ``crop="resize"``. For videos that are not face crops,
   syncnet_python's ``run_pipeline.py`` crops the face track first: ``crop="detect"`` does
   its geometry (box half-size ``s`` and centre median-filtered over 13 frames, rows from
   ``cy - s`` to ``cy + 1.8 s``, columns ``cx +- 1.4 s``, grey 110 padding) on avprep's own
   dlib boxes instead of S3FD's (S3FD boxes are somewhat larger than dlib's, so the crop is
   a little tighter than the reference; documented, not corrected).
2. **audio**: ``python_speech_features.mfcc`` with its defaults on the int16 samples
   (avprep's ``mfcc_syncnet`` track: 13 x 100 Hz, c0 = log energy).
3. ``min_length = min(frames, floor(samples / 640))``, ``lastframe = min_length - 5``; for
   ``i`` in ``0 .. lastframe-1`` the video window is frames ``i .. i+4`` and the audio window
   MFCC steps ``4i .. 4i+19``; SyncNet embeds both (1024-d).
4. For each offset ``k`` in ``-vshift .. vshift`` (15 in Wav2Lip), the distance of video
   feature ``i`` to audio feature ``i + k`` (``torch.nn.functional.pairwise_distance``; audio
   features zero-padded past either end, as ``calc_pdist`` does), averaged over ``i``:
   ``mdist[k]``. **LSE-D** = ``min_k mdist``; **LSE-C** = ``median_k mdist - min_k mdist``;
   AV offset = ``vshift - argmin``.
5. A set's LSE-C and LSE-D are the means over its videos.

The network (:class:`SyncNet`) keeps the public checkpoint's parameter names (``netcnnaud.*``,
``netfcaud.*``, ``netcnnlip.*``, ``netfclip.*``) so ``syncnet_v2.model`` (syncnet_python's
``download_model.sh``; a state dict of the ``S`` module) loads as it is. avprep never
downloads it: pass its path (or set ``$AVPREP_SYNCNET``).

Checked once (not in the test suite: the reference code is not ours to ship) against
Wav2Lip's unmodified ``SyncNetInstance_calc_scores.evaluate`` on CPU, with the same random
weights in the public layout, on a 40-frame talking clip with real speech: offset equal,
LSE-C 0.074749 vs 0.074751, LSE-D 9.745237 vs 9.745236 (float32 rounding of the MFCC).
Videos are decoded at 25 fps by avprep's decoder (other rates are resampled by timestamp).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from scipy.signal import medfilt
from torch import nn

from models.eval.weights import find_weights_file

SYNCNET_FILE = "syncnet_v2.model"
SYNCNET_ENV = "AVPREP_SYNCNET"
VSHIFT = 15  # Wav2Lip's calculate_scores_LRS.py default
BATCH_SIZE = 20  # ditto (affects nothing but memory)
INPUT_SIZE = 224
CROP_SCALE = 0.40  # run_pipeline.py --crop_scale
CROP_SMOOTH = 13  # run_pipeline.py median filter kernel over the track
CROP_PAD_VALUE = 110
SAMPLES_PER_FRAME = 640  # 16 kHz / 25 fps
MFCC_PER_FRAME = 4  # 100 Hz / 25 fps
VIDEO_WINDOW = 5
MFCC_WINDOW = 20


class SyncNet(nn.Module):
    """SyncNet v2 as in syncnet_python's ``SyncNetModel.S`` (same layers, same names)."""

    def __init__(self, embedding_dim: int = 1024) -> None:
        super().__init__()
        self.netcnnaud = nn.Sequential(
            nn.Conv2d(1, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=(1, 1), stride=(1, 1)),
            nn.Conv2d(64, 192, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)),
            nn.BatchNorm2d(192),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=(3, 3), stride=(1, 2)),
            nn.Conv2d(192, 384, kernel_size=(3, 3), padding=(1, 1)),
            nn.BatchNorm2d(384),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=(3, 3), padding=(1, 1)),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=(3, 3), padding=(1, 1)),
            nn.BatchNorm2d(256),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=(3, 3), stride=(2, 2)),
            nn.Conv2d(256, 512, kernel_size=(5, 4), padding=(0, 0)),
            nn.BatchNorm2d(512),
            nn.ReLU(),
        )
        self.netfcaud = nn.Sequential(
            nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, embedding_dim)
        )
        self.netfclip = nn.Sequential(
            nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, embedding_dim)
        )
        self.netcnnlip = nn.Sequential(
            nn.Conv3d(3, 96, kernel_size=(5, 7, 7), stride=(1, 2, 2), padding=0),
            nn.BatchNorm3d(96),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            nn.Conv3d(96, 256, kernel_size=(1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)),
            nn.BatchNorm3d(256),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            nn.Conv3d(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            nn.BatchNorm3d(256),
            nn.ReLU(inplace=True),
            nn.Conv3d(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            nn.BatchNorm3d(256),
            nn.ReLU(inplace=True),
            nn.Conv3d(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)),
            nn.BatchNorm3d(256),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            nn.Conv3d(256, 512, kernel_size=(1, 6, 6), padding=0),
            nn.BatchNorm3d(512),
            nn.ReLU(inplace=True),
        )

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 13, 20) MFCC windows -> (N, 1024)."""
        mid = self.netcnnaud(x)
        return self.netfcaud(mid.view(mid.size(0), -1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 5, 224, 224) BGR 0..255 frame windows -> (N, 1024)."""
        mid = self.netcnnlip(x)
        return self.netfclip(mid.view(mid.size(0), -1))


def find_syncnet_weights(explicit: str | None = None) -> Path:
    """The user's ``syncnet_v2.model``: an explicit path, else ``$AVPREP_SYNCNET``."""
    return find_weights_file(
        explicit,
        SYNCNET_ENV,
        SYNCNET_FILE,
        (
            f"LSE-C/LSE-D need SyncNet's public weights {SYNCNET_FILE} (syncnet_python's "
            f"download_model.sh fetches it); avprep never downloads it. Pass its path "
            f"(--syncnet-weights) or set ${SYNCNET_ENV}."
        ),
        "SyncNet",
    )


def load_syncnet(path: str | None = None, device: str | torch.device = "cpu") -> SyncNet:
    """SyncNet with the public checkpoint's weights, in eval mode on ``device``.

    Like syncnet_python's ``loadParameters``, every tensor of the file is copied into the
    parameter of the same name; here, unlike there, a name the network lacks or a parameter
    the file lacks is an error (BatchNorm's ``num_batches_tracked``, absent from files saved
    by old PyTorch, excepted).
    """
    p = find_syncnet_weights(path)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ValueError(f"{p} is not a readable PyTorch state dict ({e})") from e
    if isinstance(state, nn.Module):  # pragma: no cover - weights_only never returns one
        state = state.state_dict()
    if not isinstance(state, dict):
        raise ValueError(f"{p} does not hold a state dict (got {type(state).__name__})")
    net = SyncNet()
    own = net.state_dict()
    unknown = sorted(set(state) - set(own))
    missing = sorted(k for k in set(own) - set(state) if not k.endswith("num_batches_tracked"))
    if unknown or missing:
        raise ValueError(
            f"{p} is not SyncNet v2's checkpoint: unknown {unknown[:5]}, missing {missing[:5]}"
        )
    for name, tensor in state.items():
        if own[name].shape != tensor.shape:
            raise ValueError(
                f"{p}: {name} has shape {tuple(tensor.shape)}, "
                f"SyncNet v2 needs {tuple(own[name].shape)}"
            )
        own[name].copy_(tensor)
    return net.to(device).eval()


def face_track_crops(frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """syncnet_python ``run_pipeline.crop_video`` geometry: (T, 224, 224, 3) crops.

    ``boxes`` (T, 4) = x0, y0, x1, y1 of the face in each frame (NaN rows are filled from
    the nearest valid one).
    """
    b = np.asarray(boxes, dtype=np.float64)
    valid = np.isfinite(b).all(1)
    if not valid.any():
        raise ValueError("no face box in any frame")
    idx = np.where(valid)[0]
    nearest = idx[np.abs(np.arange(len(b))[:, None] - idx[None, :]).argmin(1)]
    b = b[nearest]
    kernel = min(CROP_SMOOTH, len(b) if len(b) % 2 else len(b) - 1)
    s = medfilt(np.maximum(b[:, 3] - b[:, 1], b[:, 2] - b[:, 0]) / 2, kernel_size=kernel)
    cy = medfilt((b[:, 1] + b[:, 3]) / 2, kernel_size=kernel)
    cx = medfilt((b[:, 0] + b[:, 2]) / 2, kernel_size=kernel)
    cs = CROP_SCALE
    out = np.empty((len(frames), INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    for t, frame in enumerate(frames):
        bs = s[t]
        bsi = int(bs * (1 + 2 * cs))
        pad = np.pad(frame, ((bsi, bsi), (bsi, bsi), (0, 0)), constant_values=CROP_PAD_VALUE)
        my, mx = cy[t] + bsi, cx[t] + bsi
        face = pad[
            int(my - bs) : int(my + bs * (1 + 2 * cs)),
            int(mx - bs * (1 + cs)) : int(mx + bs * (1 + cs)),
        ]
        out[t] = cv2.resize(face, (INPUT_SIZE, INPUT_SIZE))
    return out


def detect_face_boxes(frames: np.ndarray) -> np.ndarray:
    """(T, 4) boxes of the speaker's face from avprep's own face stage (dlib), NaN if none."""
    from avprep.face.backends import DlibFaceDetector, DlibLandmarker
    from avprep.face.tracking import track_speaker

    res = track_speaker(frames, DlibFaceDetector(), DlibLandmarker())
    return res.boxes.astype(np.float64)


def video_input(frames: np.ndarray, crop: str = "resize") -> torch.Tensor:
    """RGB uint8 (T, H, W, 3) -> SyncNet's (1, 3, T, 224, 224) float BGR 0..255."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"need RGB uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if crop == "detect":
        frames = face_track_crops(frames, detect_face_boxes(frames))
    elif crop != "resize":
        raise ValueError(f"crop must be 'resize' or 'detect', not {crop!r}")
    bgr = np.stack([cv2.resize(f[:, :, ::-1], (INPUT_SIZE, INPUT_SIZE)) for f in frames])
    return torch.from_numpy(bgr.astype(np.float32)).permute(3, 0, 1, 2).unsqueeze(0)


def audio_input(audio: np.ndarray, sample_rate: int = 16000) -> torch.Tensor:
    """Mono float audio in [-1, 1] at 16 kHz -> SyncNet's (1, 1, 13, steps) MFCC."""
    from avprep.features.config import get_feature_config
    from avprep.features.mfcc import mfcc_psf

    if sample_rate != 16000:
        raise ValueError(f"SyncNet expects 16 kHz audio, got {sample_rate} Hz")
    mfcc = mfcc_psf(np.asarray(audio, dtype=np.float64), get_feature_config("mfcc_syncnet"))
    return torch.from_numpy(mfcc.T.copy()).unsqueeze(0).unsqueeze(0)


@torch.no_grad()
def embed(
    net: SyncNet,
    video: torch.Tensor,
    mfcc: torch.Tensor,
    n_audio_samples: int,
    batch_size: int = BATCH_SIZE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Video and audio SyncNet features per 5-frame window, as ``SyncNetInstance.evaluate``."""
    n_frames = video.shape[2]
    min_length = min(n_frames, math.floor(n_audio_samples / SAMPLES_PER_FRAME))
    lastframe = min_length - VIDEO_WINDOW
    if lastframe < 1:
        raise ValueError(
            f"{n_frames} frames / {n_audio_samples} samples: SyncNet needs at least "
            f"{VIDEO_WINDOW + 1} frames of video with audio"
        )
    device = next(net.parameters()).device
    im_feat, cc_feat = [], []
    for i in range(0, lastframe, batch_size):
        frames = range(i, min(lastframe, i + batch_size))
        im_in = torch.cat([video[:, :, v : v + VIDEO_WINDOW] for v in frames], 0)
        cc_in = torch.cat(
            [mfcc[:, :, :, v * MFCC_PER_FRAME : v * MFCC_PER_FRAME + MFCC_WINDOW] for v in frames],
            0,
        )
        im_feat.append(net.forward_lip(im_in.to(device)).float().cpu())
        cc_feat.append(net.forward_aud(cc_in.to(device)).float().cpu())
    return torch.cat(im_feat, 0), torch.cat(cc_feat, 0)


def offset_distances(
    video_feat: torch.Tensor, audio_feat: torch.Tensor, vshift: int = VSHIFT
) -> torch.Tensor:
    """(N, 2*vshift+1): distance of video feature i to audio feature i+k-vshift (``calc_pdist``:
    audio features zero-padded by ``vshift`` at both ends)."""
    win = 2 * vshift + 1
    padded = torch.nn.functional.pad(audio_feat, (0, 0, vshift, vshift))
    idx = torch.arange(len(video_feat))[:, None] + torch.arange(win)[None, :]
    return torch.nn.functional.pairwise_distance(
        video_feat[:, None, :].expand(-1, win, -1), padded[idx]
    )


def sync_scores(dists: torch.Tensor, vshift: int = VSHIFT) -> dict[str, float]:
    """LSE-D (min over offsets of the mean distance), LSE-C (median minus min) and the offset."""
    mdist = dists.mean(0)
    minval, minidx = torch.min(mdist, 0)
    conf = torch.median(mdist) - minval
    return {
        "lse_c": float(conf),
        "lse_d": float(minval),
        "offset": int(vshift - int(minidx)),
    }


def lse_scores(
    net: SyncNet,
    frames: np.ndarray,
    audio: np.ndarray,
    crop: str = "resize",
    vshift: int = VSHIFT,
    batch_size: int = BATCH_SIZE,
) -> dict[str, float]:
    """LSE-C, LSE-D and the AV offset of one video: RGB uint8 (T, H, W, 3) frames at 25 fps,
    mono float audio at 16 kHz starting with frame 0."""
    video = video_input(frames, crop)
    mfcc = audio_input(audio)
    vf, af = embed(net, video, mfcc, len(audio), batch_size)
    return sync_scores(offset_distances(vf, af, vshift), vshift)


def lse_over_videos(per_video: list[dict[str, Any]]) -> dict[str, Any]:
    """Means of LSE-C and LSE-D over videos (``calculate_scores_LRS.py``)."""
    if not per_video:
        raise ValueError("no videos")
    return {
        "lse_c": float(np.mean([v["lse_c"] for v in per_video])),
        "lse_d": float(np.mean([v["lse_d"] for v in per_video])),
        "videos": len(per_video),
    }
