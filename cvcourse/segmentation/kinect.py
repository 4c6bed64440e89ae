r"""Kinect body-part recognition (notes 5.1.1; Shotton et al. 2011), small enough to train in seconds.

The pipeline of the notes, on synthetic data as the original was:

1. ``render_body``: a depth image of an articulated stick figure (capsules for head, torso, arms
   and legs) at distance ``z`` from a pinhole camera, with its body-part labels; the background has a
   large constant depth.
2. ``depth_features``: the depth-comparison features
   :math:`f(x) = D[x + \Delta p / D[x]] - D[x + \Delta n / D[x]]`; dividing the offsets by the depth
   at :math:`x` makes them cover the same **body** distance whatever the distance to the camera
   (``probe_labels`` shows it: the probes land on the same body part near and far).
3. ``train_forest``: a scikit-learn random forest classifies pixels into parts (bagging: each tree
   sees a bootstrap sample; random splitting: each split looks at a random subset of the features).
4. ``joint_proposals``: each part's joint is the densest mode of its pixels in 3-D (weighted mean
   shift, ``mean_shift``), against the true part centres.
"""

from __future__ import annotations

import numpy as np

from cvcourse._checks import check_bool, check_choice, check_float, check_int, check_type

__all__ = [
    "PARTS",
    "BACKGROUND_DEPTH",
    "FOCAL",
    "random_pose",
    "render_body",
    "body_dataset",
    "random_offsets",
    "depth_features",
    "probe_labels",
    "sample_pixels",
    "train_forest",
    "predict_parts",
    "mean_shift",
    "joint_proposals",
]

PARTS = (
    "background",
    "head",
    "torso",
    "left upper arm",
    "left forearm",
    "right upper arm",
    "right forearm",
    "left thigh",
    "left shin",
    "right thigh",
    "right shin",
)
BACKGROUND_DEPTH = 8.0  # metres: "the depth at background pixels is a large positive number"
FOCAL = 60.0  # pixels, for a 64-pixel image: a 1.8 m person at 3 m is 36 pixels tall
RADII = (0.12, 0.16, 0.06, 0.05, 0.06, 0.05, 0.08, 0.065, 0.08, 0.065)


def random_pose(rng: np.random.Generator) -> dict:
    """Joint positions (metres, x right in the image, y up) and per-part depth offsets of a random pose.

    The person faces the camera, so its left side is on the image's right. Arms swing freely, legs
    less; the arms may come forward (nearer the camera) and then occlude the torso.
    """
    s = rng.uniform(0.9, 1.1)  # body size
    pelvis = np.array([rng.uniform(-0.2, 0.2), 0.95 * s])
    neck = pelvis + s * np.array([rng.uniform(-0.06, 0.06), 0.5])
    head = neck + s * np.array([0.0, 0.17])

    def limb(start, angle, lengths, bend):
        a1 = angle
        a2 = angle + bend
        mid = start + lengths[0] * np.array([np.sin(a1), -np.cos(a1)])
        return mid, mid + lengths[1] * np.array([np.sin(a2), -np.cos(a2)])

    joints = {"pelvis": pelvis, "neck": neck, "head": head}
    for side, sign in (("left", 1.0), ("right", -1.0)):  # person's left = image right (x > 0)
        shoulder = neck + s * np.array([sign * 0.19, -0.03])
        elbow, hand = limb(
            shoulder, sign * rng.uniform(0.1, 2.4), (0.28 * s, 0.27 * s), sign * rng.uniform(0, 1.6)
        )
        hip = pelvis + s * np.array([sign * 0.1, 0.0])
        knee, foot = limb(
            hip, sign * rng.uniform(-0.1, 0.5), (0.44 * s, 0.44 * s), -sign * rng.uniform(0, 0.6)
        )
        joints.update({f"{side}_shoulder": shoulder, f"{side}_elbow": elbow, f"{side}_hand": hand})
        joints.update({f"{side}_hip": hip, f"{side}_knee": knee, f"{side}_foot": foot})
    arm_dz = {"left": rng.uniform(-0.25, 0.05), "right": rng.uniform(-0.25, 0.05)}
    return {"joints": joints, "arm_dz": arm_dz, "scale": s}


def _segments(pose: dict) -> list[tuple[np.ndarray, np.ndarray, float, float]]:
    """(start, end, radius, depth offset) per part 1..10 (the head is a zero-length capsule)."""
    j, dz = pose["joints"], pose["arm_dz"]
    pairs = [("head", "head", 0.0), ("pelvis", "neck", 0.0)]
    for side in ("left", "right"):
        pairs += [
            (f"{side}_shoulder", f"{side}_elbow", dz[side]),
            (f"{side}_elbow", f"{side}_hand", dz[side]),
        ]
    for side in ("left", "right"):
        pairs += [(f"{side}_hip", f"{side}_knee", 0.0), (f"{side}_knee", f"{side}_foot", 0.0)]
    return [(j[a], j[b], r * pose["scale"], d) for (a, b, d), r in zip(pairs, RADII, strict=True)]


def render_body(pose: dict, z: float = 3.0, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    r"""The depth image and part labels of ``pose`` at distance ``z`` (metres) from the camera.

    Pixel :math:`(v, u)` sees the world point :math:`X = (u - c)\,z / f`, :math:`Y = (c_y - v)\,z / f`
    (pinhole, focal ``FOCAL``, the body's feet near the bottom); a capsule of radius :math:`r` at
    distance :math:`d < r` from that point has depth :math:`z + \delta - \sqrt{r^2 - d^2}` (its
    front surface), and the nearest capsule wins (arms in front occlude the torso).

    Returns:
        ``(depth [size, size] float64 metres, labels [size, size] int64 in 0..10)``.
    """
    check_type("pose", pose, dict, "a pose from random_pose")
    z = check_float("z", z, low=0.5, high=BACKGROUND_DEPTH - 1)
    size = check_int("size", size, low=8)
    c = (size - 1) / 2
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    x = (u - c) * z / FOCAL
    y = (size * 0.92 - v) * z / FOCAL  # the ground (y = 0) near the image's bottom
    depth = np.full((size, size), BACKGROUND_DEPTH)
    labels = np.zeros((size, size), dtype=np.int64)
    for part, (a, b, r, dz) in enumerate(_segments(pose), start=1):
        ab = b - a
        t = np.clip(((x - a[0]) * ab[0] + (y - a[1]) * ab[1]) / max(ab @ ab, 1e-12), 0, 1)
        d2 = (x - a[0] - t * ab[0]) ** 2 + (y - a[1] - t * ab[1]) ** 2
        surface = np.where(d2 < r * r, z + dz - np.sqrt(np.maximum(r * r - d2, 0)), np.inf)
        nearer = surface < depth
        depth[nearer], labels[nearer] = surface[nearer], part
    return depth, labels


def body_dataset(n: int, seed: int = 0, z_range: tuple[float, float] = (2.0, 4.0), size: int = 64) -> dict:
    """``n`` random poses rendered at random distances in ``z_range``: ``depth [n, S, S]``,
    ``labels [n, S, S]``, ``z [n]``, ``poses`` (list)."""
    n, seed = check_int("n", n, low=1), check_int("seed", seed, low=0)
    lo, hi = (check_float(f"z_range[{i}]", v, low=0.5) for i, v in enumerate(z_range))
    rng = np.random.default_rng(seed)
    poses = [random_pose(rng) for _ in range(n)]
    zs = rng.uniform(lo, hi, n)
    rendered = [render_body(p, z, size) for p, z in zip(poses, zs, strict=True)]
    return {
        "depth": np.stack([d for d, _ in rendered]),
        "labels": np.stack([lab for _, lab in rendered]),
        "z": zs,
        "poses": poses,
    }


def random_offsets(k: int, seed: int = 0, reach: float = 60.0) -> np.ndarray:
    r"""``k`` random offset pairs :math:`(\Delta p, \Delta n)`, ``[k, 2, 2]`` as (row, col), in
    pixel-metres: divided by a depth of :math:`z` metres they move :math:`\le` ``reach / z`` pixels
    (``reach = 60`` is 1 m of body at the focal ``FOCAL``). Half the pairs have
    :math:`\Delta n = 0` (a probe compared with the pixel itself)."""
    k, seed = check_int("k", k, low=1), check_int("seed", seed, low=0)
    reach = check_float("reach", reach, low=0.0, low_inclusive=False)
    rng = np.random.default_rng(seed)
    offsets = rng.uniform(-reach, reach, (k, 2, 2))
    offsets[: k // 2, 1] = 0.0
    return offsets


def _probe(depth: np.ndarray, pixels: np.ndarray, offsets: np.ndarray, normalise: bool, which: int):
    """Rounded probe positions [M, K, 2] for offset ``which`` (0: Delta p, 1: Delta n)."""
    d = depth[pixels[:, 0], pixels[:, 1]] if normalise else np.full(len(pixels), 3.0)  # 3 m: a fixed scale
    return np.rint(pixels[:, None, :] + offsets[None, :, which, :] / d[:, None, None]).astype(np.int64)


def _lookup(image: np.ndarray, probes: np.ndarray, outside) -> np.ndarray:
    h, w = image.shape
    inside = (probes[..., 0] >= 0) & (probes[..., 0] < h) & (probes[..., 1] >= 0) & (probes[..., 1] < w)
    r, c = np.clip(probes[..., 0], 0, h - 1), np.clip(probes[..., 1], 0, w - 1)
    return np.where(inside, image[r, c], outside)


def _check_pixels(depth: np.ndarray, pixels: np.ndarray, offsets: np.ndarray):
    check_type("depth", depth, np.ndarray, "a depth image (ndarray [H, W])")
    if depth.ndim != 2:
        raise ValueError(f"depth must be [H, W], got shape {depth.shape}")
    pixels, offsets = np.asarray(pixels), np.asarray(offsets, dtype=np.float64)
    if pixels.ndim != 2 or pixels.shape[1] != 2:
        raise ValueError(f"pixels must be [M, 2] (row, col), got shape {pixels.shape}")
    if offsets.ndim != 3 or offsets.shape[1:] != (2, 2):
        raise ValueError(
            f"offsets must be [K, 2, 2] (Delta p, Delta n as row, col), got shape {offsets.shape}"
        )
    return pixels.astype(np.int64), offsets


def depth_features(depth: np.ndarray, pixels: np.ndarray, offsets: np.ndarray, normalise: bool = True):
    r"""The depth-comparison features of ``pixels`` [M, 2] (row, col): ``[M, K]`` with
    :math:`f_k(x) = D[x + \Delta p_k / D[x]] - D[x + \Delta n_k / D[x]]`.

    Probes outside the image read ``BACKGROUND_DEPTH``. ``normalise=False`` divides by a fixed 3 m
    instead of :math:`D[x]` (the ablation: the offsets then cover less body when the person is near).
    """
    pixels, offsets = _check_pixels(depth, pixels, offsets)
    normalise = check_bool("normalise", normalise)
    p = _lookup(depth, _probe(depth, pixels, offsets, normalise, 0), BACKGROUND_DEPTH)
    q = _lookup(depth, _probe(depth, pixels, offsets, normalise, 1), BACKGROUND_DEPTH)
    return p - q


def probe_labels(depth, labels, pixels, offsets, normalise: bool = True) -> np.ndarray:
    """The part label under each :math:`\\Delta p` probe, ``[M, K]`` (0 outside the image): where on
    the body a feature looks."""
    pixels, offsets = _check_pixels(depth, pixels, offsets)
    return _lookup(labels, _probe(depth, pixels, offsets, check_bool("normalise", normalise), 0), 0)


def sample_pixels(labels: np.ndarray, per_image: int, seed: int = 0) -> list[np.ndarray]:
    """Up to ``per_image`` random body pixels (label > 0) of each image, as ``[M_i, 2]`` (row, col)."""
    per_image, seed = check_int("per_image", per_image, low=1), check_int("seed", seed, low=0)
    rng = np.random.default_rng(seed)
    out = []
    for lab in labels:
        body = np.argwhere(lab > 0)
        out.append(body[rng.choice(len(body), min(per_image, len(body)), replace=False)])
    return out


def _features_of(data: dict, pixels: list[np.ndarray], offsets: np.ndarray, normalise: bool):
    x = np.concatenate(
        [depth_features(d, p, offsets, normalise) for d, p in zip(data["depth"], pixels, strict=True)]
    )
    y = np.concatenate([lab[p[:, 0], p[:, 1]] for lab, p in zip(data["labels"], pixels, strict=True)])
    return x, y


def train_forest(
    data: dict,
    offsets: np.ndarray,
    *,
    per_image: int = 200,
    trees: int = 20,
    max_depth: int = 14,
    max_features: str | float | None = "sqrt",
    bootstrap: bool = True,
    normalise: bool = True,
    seed: int = 0,
):
    """A scikit-learn ``RandomForestClassifier`` on the features of ``per_image`` body pixels per image.

    ``bootstrap=True`` is bagging (each tree sees a sample drawn with replacement);
    ``max_features="sqrt"`` is random splitting (each split looks at sqrt(K) random features);
    ``trees=1, bootstrap=False, max_features=None`` is one plain decision tree.
    """
    from sklearn.ensemble import RandomForestClassifier

    check_type("data", data, dict, "a body_dataset")
    trees, max_depth = check_int("trees", trees, low=1), check_int("max_depth", max_depth, low=1)
    if max_features is not None and not isinstance(max_features, float):
        check_choice("max_features", max_features, ("sqrt", "log2"))
    x, y = _features_of(data, sample_pixels(data["labels"], per_image, seed), offsets, normalise)
    forest = RandomForestClassifier(
        n_estimators=trees,
        max_depth=max_depth,
        max_features=max_features,
        bootstrap=check_bool("bootstrap", bootstrap),
        random_state=seed,
        n_jobs=1,
    )
    forest.normalise = normalise  # how its features were computed
    return forest.fit(x, y)


def predict_parts(forest, depth: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Part labels ``[H, W]`` (0 on the background) and probabilities ``[H, W, 11]`` of every body
    pixel of one depth image (background = depth ``BACKGROUND_DEPTH``)."""
    body = np.argwhere(depth < BACKGROUND_DEPTH)
    labels = np.zeros(depth.shape, dtype=np.int64)
    probs = np.zeros((*depth.shape, len(PARTS)))
    probs[..., 0] = 1.0
    if len(body):
        p = forest.predict_proba(depth_features(depth, body, offsets, getattr(forest, "normalise", True)))
        full = np.zeros((len(body), len(PARTS)))
        full[:, forest.classes_] = p
        probs[body[:, 0], body[:, 1]] = full
        labels[body[:, 0], body[:, 1]] = full.argmax(1)
    return labels, probs


def mean_shift(
    points: np.ndarray,
    start: np.ndarray,
    bandwidth: float,
    weights: np.ndarray | None = None,
    kernel: str = "gaussian",
    max_iter: int = 300,
) -> np.ndarray:
    r"""Follow the (weighted) kernel density of ``points`` [M, D] uphill from ``start`` [D]:
    :math:`m \leftarrow \sum_i w_i K(\|x_i - m\| / h) x_i / \sum_i w_i K(\cdot)` until it moves
    less than ``1e-3 h`` (scikit-learn's rule). ``kernel="flat"`` (mean of the points within ``h``)
    is scikit-learn's ``MeanShift``."""
    points = np.asarray(points, dtype=np.float64)
    m = np.asarray(start, dtype=np.float64).copy()
    h = check_float("bandwidth", bandwidth, low=0.0, low_inclusive=False)
    check_choice("kernel", kernel, ("gaussian", "flat"))
    w = np.ones(len(points)) if weights is None else np.asarray(weights, dtype=np.float64)
    for _ in range(check_int("max_iter", max_iter, low=1)):
        d2 = ((points - m) ** 2).sum(1)
        k = w * (np.exp(-0.5 * d2 / h**2) if kernel == "gaussian" else (d2 <= h * h).astype(np.float64))
        if k.sum() == 0:
            break
        new = (k[:, None] * points).sum(0) / k.sum()
        moved = np.linalg.norm(new - m)
        m = new
        if moved < 1e-3 * h:
            break
    return m


def joint_proposals(depth: np.ndarray, probs: np.ndarray, z_ref: float, bandwidth: float = 0.08) -> dict:
    """Each part's proposal: the mean-shift mode, in world metres (x, y), of its pixels back-projected
    at their depth and weighted by their probability of the part (started at the weighted centroid).

    Returns:
        ``{part id: (x, y)}`` for the parts with pixels.
    """
    size = depth.shape[0]
    c = (size - 1) / 2
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    body = depth < BACKGROUND_DEPTH
    z = np.where(body, depth, z_ref)
    xy = np.stack([(u - c) * z / FOCAL, (size * 0.92 - v) * z / FOCAL], -1)[body]  # [M, 2] metres
    out = {}
    for part in range(1, len(PARTS)):
        w = probs[..., part][body]
        if w.sum() < 1.0:
            continue
        start = (w[:, None] * xy).sum(0) / w.sum()
        out[part] = tuple(mean_shift(xy, start, bandwidth, weights=w))
    return out


def probe_agreement(pose: dict, offsets: np.ndarray, z_near: float, z_far: float, normalise: bool = True):
    """The invariance, measured: render ``pose`` near and far; for every body pixel of the far image
    and its counterpart in the near one (same body point, same label), the fraction of offsets whose
    probe lands on the same body part in both, among the probes that land on the body in either
    image. Near 1 with depth-normalised offsets.

    Returns:
        ``(agreement in [0, 1], number of pixel pairs)``.
    """
    z_near, z_far = check_float("z_near", z_near, low=0.5), check_float("z_far", z_far, low=0.5)
    offsets = np.asarray(offsets, dtype=np.float64)
    near_d, near_l = render_body(pose, z_near)
    far_d, far_l = render_body(pose, z_far)
    size = far_d.shape[0]
    centre = np.array([size * 0.92, (size - 1) / 2])  # the point that projects to itself
    far_px = np.argwhere(far_l > 0)
    near_px = np.rint(centre + (far_px - centre) * z_far / z_near).astype(np.int64)
    ok = (near_px >= 0).all(1) & (near_px < size).all(1)
    far_px, near_px = far_px[ok], near_px[ok]
    same = near_l[near_px[:, 0], near_px[:, 1]] == far_l[far_px[:, 0], far_px[:, 1]]
    far_px, near_px = far_px[same], near_px[same]
    a = probe_labels(far_d, far_l, far_px, offsets, normalise)
    b = probe_labels(near_d, near_l, near_px, offsets, normalise)
    on_body = (a > 0) | (b > 0)  # probes that land on the body in either image (not both outside)
    return float((a == b)[on_body].mean()), len(far_px)


def part_centres(pose: dict) -> dict:
    """The true centre (x, y) in metres of every part (the midpoint of its capsule)."""
    return {part: tuple((a + b) / 2) for part, (a, b, _, _) in enumerate(_segments(pose), start=1)}


__all__ += ["part_centres", "probe_agreement"]
