"""DVAE's networks (Mittal & Wang 2020): the stage-1 audio VAE and the stage-2 talking head.

Stage 1 follows FHVAE's recurrent model (Hsu et al. 2017, ``src/models/rec_fhvae.py``), which
DVAE says it builds on: each encoder is a stacked LSTM over the T frames of a segment whose
final hidden states of *all* layers are concatenated (FHVAE ``rec_*_enc_out = all_h``) and
mapped linearly to the posterior mean and log-variance; the sequence encoder sees every
frame concatenated with the sampled latents it is conditioned on (FHVAE appends the sampled
z1 to each frame of the z2 encoder); the decoder LSTM reads the concatenated latents at every
step and emits a diagonal Gaussian (mean and log-variance, both linear) per frame. The prior
tables (one mean per viseme, emotion, training sequence) are initialised N(0, I) like FHVAE's
``mu1_table`` (``tf.random_normal``).

Stage 2: a pix2pix U-Net generator ([27], [20]), a PatchGAN-like frame critic with a viseme
head, a 3-D convolutional video critic ([30]), and a small mouth-landmark regressor that
stands in for FAN (which the paper used) so the landmark loss is differentiable.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# ----------------------------------------------------------------------------- stage 1


class SegmentEncoder(nn.Module):
    """Stacked LSTM over a segment (B, T, n_in) [+ a condition vector per segment] ->
    Gaussian posterior ``(mu, logvar)`` of one latent."""

    def __init__(self, n_in: int, hidden: int, layers: int, n_latent: int, n_cond: int = 0):
        super().__init__()
        self.lstm = nn.LSTM(n_in + n_cond, hidden, num_layers=layers, batch_first=True)
        self.mu = nn.Linear(hidden * layers, n_latent)
        self.logvar = nn.Linear(hidden * layers, n_latent)

    def forward(
        self, x: torch.Tensor, cond: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if cond is not None:
            x = torch.cat([x, cond[:, None, :].expand(-1, x.shape[1], -1)], dim=-1)
        _, (h, _) = self.lstm(x)  # h: (layers, B, hidden)
        h = h.transpose(0, 1).reshape(x.shape[0], -1)  # FHVAE "all_h"
        return self.mu(h), self.logvar(h)


class SegmentDecoder(nn.Module):
    """Latents (B, n_z) -> per-frame diagonal Gaussian ``(mu, logvar)`` each (B, T, n_out)."""

    def __init__(self, n_z: int, hidden: int, layers: int, n_out: int, steps: int):
        super().__init__()
        self.steps = steps
        self.lstm = nn.LSTM(n_z, hidden, num_layers=layers, batch_first=True)
        self.mu = nn.Linear(hidden, n_out)
        self.logvar = nn.Linear(hidden, n_out)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, _ = self.lstm(z[:, None, :].expand(-1, self.steps, -1).contiguous())
        return self.mu(out), self.logvar(out)


class PriorTable(nn.Module):
    """Learned means ``mu~`` of one latent's prior, one row per label (FHVAE's mu table)."""

    def __init__(self, n: int, dim: int):
        super().__init__()
        self.means = nn.Parameter(torch.randn(n, dim))

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return self.means[labels]


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


@dataclass
class VaeOutput:
    """Posteriors ``(mu, logvar)`` of z_c, z_e, z_s, their samples, and p(x | z)."""

    q_content: tuple[torch.Tensor, torch.Tensor]
    q_emotion: tuple[torch.Tensor, torch.Tensor]
    q_sequence: tuple[torch.Tensor, torch.Tensor]
    z_content: torch.Tensor
    z_emotion: torch.Tensor
    z_sequence: torch.Tensor
    px_mu: torch.Tensor
    px_logvar: torch.Tensor


class DisentangledAudioVAE(nn.Module):
    """The stage-1 VAE of Fig. 1: z_c and z_e from the segment, z_s from the segment and the
    sampled z_c, z_e (Eq. 2), x from all three; with the viseme, emotion and sequence tables."""

    def __init__(
        self,
        n_bins: int = 200,
        steps: int = 20,
        hidden: int = 256,
        layers: int = 2,
        z_content: int = 32,
        z_emotion: int = 32,
        z_sequence: int = 32,
        n_visemes: int = 21,
        n_emotions: int = 6,
        n_sequences: int = 1,
    ) -> None:
        super().__init__()
        self.content_encoder = SegmentEncoder(n_bins, hidden, layers, z_content)
        self.emotion_encoder = SegmentEncoder(n_bins, hidden, layers, z_emotion)
        self.sequence_encoder = SegmentEncoder(
            n_bins, hidden, layers, z_sequence, n_cond=z_content + z_emotion
        )
        self.decoder = SegmentDecoder(
            z_content + z_emotion + z_sequence, hidden, layers, n_bins, steps
        )
        self.viseme_prior = PriorTable(n_visemes, z_content)
        self.emotion_prior = PriorTable(n_emotions, z_emotion)
        self.sequence_prior = PriorTable(max(1, n_sequences), z_sequence)

    def encode_content(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z_c | x) for segments (B, T, n_bins): what stage 2 conditions on."""
        return self.content_encoder(x)

    def forward(self, x: torch.Tensor) -> VaeOutput:
        qc = self.content_encoder(x)
        qe = self.emotion_encoder(x)
        zc, ze = reparameterize(*qc), reparameterize(*qe)
        qs = self.sequence_encoder(x, torch.cat([zc, ze], dim=-1))
        zs = reparameterize(*qs)
        px_mu, px_logvar = self.decoder(torch.cat([zc, ze, zs], dim=-1))
        return VaeOutput(qc, qe, qs, zc, ze, zs, px_mu, px_logvar)


class LatentProbes(nn.Module):
    """Table 3's auxiliary linear classifiers on frozen z_c and z_e, for viseme and emotion."""

    def __init__(self, z_content: int, z_emotion: int, n_visemes: int, n_emotions: int):
        super().__init__()
        self.content_viseme = nn.Linear(z_content, n_visemes)
        self.content_emotion = nn.Linear(z_content, n_emotions)
        self.emotion_viseme = nn.Linear(z_emotion, n_visemes)
        self.emotion_emotion = nn.Linear(z_emotion, n_emotions)

    def forward(self, zc: torch.Tensor, ze: torch.Tensor) -> dict[str, torch.Tensor]:
        zc, ze = zc.detach(), ze.detach()  # frozen representations
        return {
            "content_viseme": self.content_viseme(zc),
            "content_emotion": self.content_emotion(zc),
            "emotion_viseme": self.emotion_viseme(ze),
            "emotion_emotion": self.emotion_emotion(ze),
        }


# ----------------------------------------------------------------------------- stage 2


def _unet_channels(ngf: int, depth: int) -> list[int]:
    return [ngf * min(2**i, 8) for i in range(depth)]


class UNetGenerator(nn.Module):
    """pix2pix's U-Net (``UnetGenerator``: 4x4 stride-2 convolutions, LeakyReLU 0.2 down, ReLU
    up, skip connections, tanh out), instance-normalised (pix2pix ``--norm instance``, as in
    the pix2pixHD-based temporal smoothing of [5]). No dropout: pix2pix's dropout stands in
    for a noise input; DVAE's G is conditioned and auto-regressive instead.

    Input: the face I_f (3), the previous generated frame (3) and z_c broadcast over H x W
    (Sec. 3.3), concatenated channel-wise; output: one frame in [-1, 1]."""

    def __init__(self, z_dim: int = 32, ngf: int = 64, depth: int = 8, out_channels: int = 3):
        super().__init__()
        if depth < 2:
            raise ValueError("U-Net depth must be >= 2")
        ch = _unet_channels(ngf, depth)
        in_ch = 3 + 3 + z_dim
        self.z_dim = z_dim
        self.depth = depth
        downs = [nn.Conv2d(in_ch, ch[0], 4, 2, 1)]
        for i in range(1, depth):
            inner = i == depth - 1
            layers: list[nn.Module] = [nn.LeakyReLU(0.2), nn.Conv2d(ch[i - 1], ch[i], 4, 2, 1)]
            if not inner:
                layers.append(nn.InstanceNorm2d(ch[i], affine=True))
            downs.append(nn.Sequential(*layers))
        self.downs = nn.ModuleList(downs)
        ups = []
        for i in range(depth - 1, 0, -1):
            c_in = ch[i] if i == depth - 1 else 2 * ch[i]
            ups.append(
                nn.Sequential(
                    nn.ReLU(),
                    nn.ConvTranspose2d(c_in, ch[i - 1], 4, 2, 1),
                    nn.InstanceNorm2d(ch[i - 1], affine=True),
                )
            )
        self.ups = nn.ModuleList(ups)
        self.out = nn.Sequential(
            nn.ReLU(), nn.ConvTranspose2d(2 * ch[0], out_channels, 4, 2, 1), nn.Tanh()
        )

    def forward(self, face: torch.Tensor, previous: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h, w = face.shape[-2:]
        if h % 2**self.depth or w % 2**self.depth:
            raise ValueError(
                f"U-Net of depth {self.depth} needs sides divisible by {2**self.depth}"
            )
        zmap = z[:, :, None, None].expand(-1, -1, h, w)
        x = torch.cat([face, previous, zmap.to(face.dtype)], dim=1)
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = skips.pop()
        for up in self.ups:
            x = torch.cat([up(x), skips.pop()], dim=1)
        return self.out(x)


def generate_sequence(
    generator: nn.Module,
    face: torch.Tensor,
    z_seq: torch.Tensor,
    first_previous: torch.Tensor | None = None,
) -> torch.Tensor:
    """Auto-regressive generation (Sec. 3.3, temporal smoothing of [5]): frame n sees the face,
    frame n-1 as generated (the face itself for n = 0; our choice) and z_c^n.
    ``face`` (B, 3, H, W), ``z_seq`` (B, L, D) -> (B, L, 3, H, W)."""
    previous = face if first_previous is None else first_previous
    frames = []
    for n in range(z_seq.shape[1]):
        previous = generator(face, previous, z_seq[:, n])
        frames.append(previous)
    return torch.stack(frames, dim=1)


class FrameCritic(nn.Module):
    """D_frame (Sec. 3.4): a PatchGAN-like WGAN-GP critic conditioned on z_c, with an
    auxiliary viseme classifier. The image trunk (PatchGAN's 4x4 stride-2 convolutions) sees
    the frame alone; z_c is broadcast and concatenated to the trunk's features before the
    critic's last two (stride-1) PatchGAN layers; the viseme head reads the image trunk only,
    so it must find the viseme in the pixels (conditioning on z_c at its input would let it
    read the label off the condition). Layer norm instead of batch norm, as WGAN-GP [17]
    advises for critics (the gradient penalty is per sample)."""

    def __init__(self, z_dim: int = 32, ndf: int = 64, n_layers: int = 3, n_visemes: int = 21):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
        c = ndf
        for n in range(1, n_layers):
            c_out = ndf * min(2**n, 8)
            layers += [nn.Conv2d(c, c_out, 4, 2, 1), nn.GroupNorm(1, c_out), nn.LeakyReLU(0.2)]
            c = c_out
        self.trunk = nn.Sequential(*layers)
        c_out = ndf * min(2**n_layers, 8)
        self.critic = nn.Sequential(
            nn.Conv2d(c + z_dim, c_out, 4, 1, 1),
            nn.GroupNorm(1, c_out),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c_out, 1, 4, 1, 1),
        )
        self.viseme_head = nn.Linear(c, n_visemes)

    def forward(self, frame: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (critic value (B,), viseme logits (B, n_visemes))."""
        f = self.trunk(frame)
        zmap = z[:, :, None, None].expand(-1, -1, *f.shape[-2:]).to(f.dtype)
        score = self.critic(torch.cat([f, zmap], dim=1)).mean(dim=(1, 2, 3))
        return score, self.viseme_head(f.mean(dim=(2, 3)))


class VideoCritic(nn.Module):
    """D_video (Sec. 3.4): 3-D convolutions over (frames ++ z_c broadcast) with time as the
    third dimension ([30]); like D_frame without the viseme head. Kernels 3x4x4, stride 1 in
    time and 2 in space for the first layer, 2 everywhere after (ours), layer norm ([17])."""

    def __init__(self, z_dim: int = 32, channels: tuple[int, ...] = (32, 64, 128, 256)):
        super().__init__()
        layers: list[nn.Module] = []
        c = 3 + z_dim
        for i, c_out in enumerate(channels):
            stride = (1, 2, 2) if i == 0 else (2, 2, 2)
            layers.append(nn.Conv3d(c, c_out, (3, 4, 4), stride, (1, 1, 1)))
            if i > 0:
                layers.append(nn.GroupNorm(1, c_out))
            layers.append(nn.LeakyReLU(0.2))
            c = c_out
        layers.append(nn.Conv3d(c, 1, (3, 3, 3), 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, frames: torch.Tensor, z_seq: torch.Tensor) -> torch.Tensor:
        """``frames`` (B, L, 3, H, W), ``z_seq`` (B, L, D) -> critic value (B,)."""
        h, w = frames.shape[-2:]
        zmap = z_seq[..., None, None].expand(-1, -1, -1, h, w).to(frames.dtype)
        x = torch.cat([frames, zmap], dim=2).transpose(1, 2)  # (B, C, L, H, W)
        return self.net(x).mean(dim=(1, 2, 3, 4))


class MouthLandmarkRegressor(nn.Module):
    """Frame (B, 3, 256, 256) in [-1, 1] -> the 20 mouth landmarks (iBUG points 48-67) in
    crop256 pixels (B, 20, 2). A small differentiable stand-in for FAN [3], which the paper
    ran on generated frames; trained on the shards' own ``landmarks_crop256`` (stage
    "landmarks"). Reads the frame at half resolution; predicts offsets from a learned mean
    mouth in crop units (pixels / 256)."""

    def __init__(self, width: int = 32, n_points: int = 20, side: int = 256):
        super().__init__()
        self.side = side
        self.n_points = n_points
        chans = [3, width, 2 * width, 4 * width, 8 * width]
        layers: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:], strict=True):
            layers += [nn.Conv2d(a, b, 3, 2, 1), nn.GroupNorm(1, b), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(8)
        self.head = nn.Linear(chans[-1] * 64, n_points * 2)
        nn.init.zeros_(self.head.weight)
        self.mean_shape = nn.Parameter(torch.full((n_points, 2), 0.5))

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(frame, 2)
        x = self.pool(self.features(x)).flatten(1)
        offsets = self.head(x).view(-1, self.n_points, 2)
        return (self.mean_shape + offsets) * self.side
