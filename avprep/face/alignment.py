"""Similarity alignment of 68-point landmarks to a template, and the crops it defines.

A crop is ``cv2.warpAffine(frame, A)`` with ``A`` the 2x3 similarity (rotation, uniform
scale, translation) that maps the frame's eye centres and mouth centre onto the template:
least squares (Umeyama 1991, no reflection) for ``cran112``, the official DAVS fit
(:func:`davs_similarity`) for ``davs256``. Landmarks map with the same ``A``, and the
inverse maps crop pixels back to the source frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from avprep.face.templates import DAVS_TEMPLATE, TEMPLATES, FaceTemplate

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
    """Least-squares similarity (2x3) mapping ``src`` (N,2) onto ``dst`` (N,2); Umeyama.

    Stacks fit in one call: ``src`` (T,N,2) -> (T,2,3), with ``dst`` (T,N,2) or one shared
    (N,2) (a clip's frames onto a template: one vectorised pass, not T small SVDs).
    """
    src, dst = np.broadcast_arrays(np.asarray(src, np.float64), np.asarray(dst, np.float64))
    n = src.shape[-2]
    mu_s, mu_d = src.mean(-2, keepdims=True), dst.mean(-2, keepdims=True)
    s0, d0 = src - mu_s, dst - mu_d
    var_s = (s0**2).sum((-2, -1)) / n
    cov = np.swapaxes(d0, -1, -2) @ s0 / n
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(sig.shape)
    d[..., -1] = np.where(np.linalg.det(u) * np.linalg.det(vt) < 0, -1.0, 1.0)
    r = (u * d[..., None, :]) @ vt
    scale = np.where(var_s > 0, (sig * d).sum(-1) / np.where(var_s > 0, var_s, 1.0), 1.0)
    sr = scale[..., None, None] * r
    return _affine(sr, mu_d[..., 0, :] - (sr @ mu_s[..., 0, :, None])[..., 0])


def _affine(lin: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(..., 2, 2) linear parts and (..., 2) translations -> (..., 2, 3) affines."""
    return np.concatenate([lin, t[..., None]], axis=-1)


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


def davs_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 similarity ``src`` -> ``dst`` as the official DAVS ``transformation_from_points``.

    Both point sets are centred and divided by their standard deviation over all
    coordinates; the rotation is ``(U V^T)^T`` from the SVD of ``src^T dst`` (orthogonal
    Procrustes, no reflection guard: a face is never mirrored relative to its template); the
    scale is ``std(dst) / std(src)``, not the least-squares scale. Stacks as
    :func:`similarity_transform`: (T,N,2) -> (T,2,3).
    """
    p1, p2 = np.broadcast_arrays(np.asarray(src, np.float64), np.asarray(dst, np.float64))
    c1, c2 = p1.mean(-2, keepdims=True), p2.mean(-2, keepdims=True)
    q1, q2 = p1 - c1, p2 - c2
    s1, s2 = q1.std(axis=(-2, -1)), q2.std(axis=(-2, -1))
    if np.any(s1 == 0):
        raise ValueError("degenerate anchors: all points coincide")
    s1, s2 = s1[..., None, None], s2[..., None, None]
    u, _, vt = np.linalg.svd(np.swapaxes(q1 / s1, -1, -2) @ (q2 / s2))
    sr = (s2 / s1) * np.swapaxes(u @ vt, -1, -2)
    return _affine(sr, c2[..., 0, :] - (sr @ c1[..., 0, :, None])[..., 0])


def fit_template(anchors: np.ndarray, template: FaceTemplate, size: int) -> np.ndarray:
    """(3,2) anchors -> the 2x3 similarity onto ``template`` at ``size`` (its fit and
    weights); (T,3,2) -> (T,2,3)."""
    reps = np.asarray(template.anchor_weights)
    src = np.repeat(np.asarray(anchors, dtype=np.float64), reps, axis=-2)
    dst = np.repeat(template.scaled(size), reps, axis=0)
    if template.fit == "davs":
        return davs_similarity(src, dst)
    return similarity_transform(src, dst)


def align_transforms(anchors: np.ndarray, template: str, size: int) -> np.ndarray:
    """(T,3,2) anchors -> (T,2,3) similarities onto the named template at ``size``."""
    stack = np.asarray(anchors, dtype=np.float64).reshape(-1, 3, 2)
    return fit_template(stack, TEMPLATES[template], size)


def translate(a: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The affine(s) ``a`` followed by a shift of (dx, dy) pixels."""
    out = np.array(a, dtype=np.float64, copy=True)
    out[..., 0, 2] += dx
    out[..., 1, 2] += dy
    return out


def mouth_transforms(a256: np.ndarray, size256: int, mouth_size: int) -> np.ndarray:
    """(T,2,3) frame->256 crop transforms -> frame->mouth crop transforms."""
    cx, cy, side = DAVS_TEMPLATE.mouth_box(size256)
    k = mouth_size / side
    # pixel centres: the box [c - side/2, c + side/2] maps onto [-0.5, mouth_size - 0.5]
    s = np.array([[k, 0.0, mouth_size / 2 - 0.5 - k * cx], [0.0, k, mouth_size / 2 - 0.5 - k * cy]])
    return compose_affine(s, a256)


def warp_crop(frame: np.ndarray, a: np.ndarray, size: int, border_value: int = 0) -> np.ndarray:
    """The ``size`` x ``size`` crop of ``frame`` under ``a``; outside the frame is
    ``border_value`` (grey 127 for the DAVS template, as the official code fills it).

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
        borderValue=(border_value, border_value, border_value),
    )


def warp_crops(
    frames: np.ndarray, specs: Sequence[tuple[np.ndarray, int, int]]
) -> list[np.ndarray]:
    """Several crop streams of (T,H,W,3) RGB ``frames`` in one pass: ``specs`` holds one
    ``(transforms (T,2,3), size, border_value)`` per stream; returns (T,size,size,3) each,
    the same bytes as :func:`warp_crop` frame by frame.

    Why one pass over 4-channel frames: OpenCV's bilinear warp has SIMD code for 1- and
    4-channel images but not for 3, so warping RGBA costs ~40 % of warping RGB (the channels
    are interpolated independently with the same fixed-point weights: the RGB channels of the
    RGBA warp are bit-identical, tested). Each frame is widened once for all streams, and
    each crop narrowed back as it is stored, so no extra full-clip copy is held."""
    outs = [np.empty((len(frames), size, size, 3), np.uint8) for _, size, _ in specs]
    for t, frame in enumerate(frames):
        rgba = cv2.cvtColor(frame, cv2.COLOR_RGB2RGBA)
        for (a, size, border), out in zip(specs, outs, strict=True):
            cv2.cvtColor(warp_crop(rgba, a[t], size, border), cv2.COLOR_RGBA2RGB, dst=out[t])
    return outs
