"""Similarity alignment of 68-point landmarks to a template, and the crops it defines.

A crop is ``cv2.warpAffine(frame, A)`` with ``A`` the 2x3 similarity (rotation, uniform
scale, translation) that best maps the frame's eye centres and mouth centre onto the
template in the least-squares sense (Umeyama 1991, no reflection). Landmarks map with the
same ``A``, and the inverse maps crop pixels back to the source frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from avprep.face.templates import mouth_box_in_256, template_points

RIGHT_EYE = slice(36, 42)  # subject's right eye = image-left in a frontal face
LEFT_EYE = slice(42, 48)
MOUTH_CORNERS = (48, 54)


def anchor_points(landmarks: np.ndarray) -> np.ndarray:
    """(..., 68, 2) landmarks -> (..., 3, 2): image-left eye, image-right eye, mouth centre."""
    lm = np.asarray(landmarks, dtype=np.float64)
    e1 = lm[..., RIGHT_EYE, :].mean(axis=-2)
    e2 = lm[..., LEFT_EYE, :].mean(axis=-2)
    m = 0.5 * (lm[..., MOUTH_CORNERS[0], :] + lm[..., MOUTH_CORNERS[1], :])
    return np.stack([e1, e2, m], axis=-2)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (2x3) mapping ``src`` (N,2) onto ``dst`` (N,2); Umeyama."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    var_s = (s0**2).sum() / len(src)
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    r = u @ np.diag(d) @ vt
    scale = float((sig * d).sum() / var_s) if var_s > 0 else 1.0
    a = np.empty((2, 3))
    a[:, :2] = scale * r
    a[:, 2] = mu_d - scale * r @ mu_s
    return a


def apply_affine(a: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (..., 2) points with a 2x3 affine ``a`` (or (T,2,3) with (T, N, 2) points)."""
    a = np.asarray(a, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    if a.ndim == 3:
        return np.einsum("tij,tnj->tni", a[:, :, :2], p) + a[:, None, :, 2]
    return p @ a[:, :2].T + a[:, 2]


def invert_affine(a: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine (or a stack of them): maps crop pixels back to the frame."""
    a = np.asarray(a, dtype=np.float64)
    m = np.linalg.inv(a[..., :2])
    t = -np.einsum("...ij,...j->...i", m, a[..., 2])
    return np.concatenate([m, t[..., None]], axis=-1)


def compose_affine(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """``outer ∘ inner`` for 2x3 affines: first ``inner``, then ``outer``."""
    o = np.asarray(outer, dtype=np.float64)
    i = np.asarray(inner, dtype=np.float64)
    lin = o[..., :2] @ i[..., :2]
    t = np.einsum("...ij,...j->...i", o[..., :2], i[..., 2]) + o[..., 2]
    return np.concatenate([lin, t[..., None]], axis=-1)


def align_transforms(anchors: np.ndarray, template: str, size: int) -> np.ndarray:
    """(T,3,2) anchors -> (T,2,3) similarities onto the named template at ``size``."""
    dst = template_points(template, size)
    return np.stack([similarity_transform(a, dst) for a in anchors])


def mouth_transforms(a256: np.ndarray, size256: int, mouth_size: int) -> np.ndarray:
    """(T,2,3) frame->256 crop transforms -> frame->mouth crop transforms."""
    cx, cy, side = mouth_box_in_256(size256)
    k = mouth_size / side
    s = np.array([[k, 0.0, mouth_size / 2 - k * cx], [0.0, k, mouth_size / 2 - k * cy]])
    return compose_affine(s, a256)


def warp_crop(frame: np.ndarray, a: np.ndarray, size: int) -> np.ndarray:
    """The ``size`` x ``size`` crop of ``frame`` under ``a``; outside the frame is black.

    Bilinear warping aliases when it shrinks by more than 2x, so the frame is first
    area-averaged down to a scale the warp can take (same geometry, adjusted ``a``).
    """
    a = np.asarray(a, dtype=np.float64)
    scale = float(np.sqrt(abs(np.linalg.det(a[:, :2]))))
    if scale < 0.5:
        r = 2.0 * scale
        h, w = frame.shape[:2]
        nw, nh = max(1, round(w * r)), max(1, round(h * r))
        frame = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA)
        sx, sy = nw / w, nh / h
        # pixel centres: x_small = (x + 0.5) * sx - 0.5
        pre = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])
        a = compose_affine(a, invert_affine(pre))
    return cv2.warpAffine(
        frame,
        a,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
