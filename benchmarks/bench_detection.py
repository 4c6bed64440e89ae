"""Speed of chapter 4a's detection ops next to their authorities, on CPU, in one run.

Targets of issue 12 (ours / authority): ``box_iou`` 1000 x 1000 <= 1.5 (torchvision), ``nms`` on 2,000
boxes <= 3 (torchvision's C++), ``roi_align`` 256 RoIs 7 x 7 <= 5 (torchvision's C++), ``coco_map`` on
500 images <= 1.0 (pycocotools' COCOeval: evaluate + accumulate + summarize; building its COCO objects
from the same lists is timed apart). Also roi_pool, batched_nms, the focal loss and the Hungarian
algorithm (scipy), without a target.

Prints the median time of each and the ratio ours / authority (> 1 = ours slower). Timings depend on
the machine and on its load: on a shared machine run it a few times.

    python benchmarks/bench_detection.py [--threads 1] [--repeats 7]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
from functools import partial

import numpy as np
import torch
import torchvision
from scipy.optimize import linear_sum_assignment as scipy_lsa

from cvcourse import detection as det


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(name: str, ours: float, ref: float, target: float | None = None) -> None:
    goal = f"   (target <= {target})" if target else ""
    print(
        f"{name:50s} ours {ours * 1e3:8.2f} ms   authority {ref * 1e3:8.2f} ms   "
        f"ratio {ours / ref:5.2f}{goal}"
    )


def random_boxes(n: int, g: torch.Generator, extent: float = 800.0) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=g) * extent
    return torch.cat([xy, xy + 10 + torch.rand(n, 2, generator=g) * extent / 4], 1)


def detector_candidates(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Candidates as a detector gives them before NMS: 40 jittered boxes around each of n / 40 objects."""
    objects = random_boxes(n // 40, g)
    boxes = objects.repeat_interleave(40, 0) + torch.randn(n, 4, generator=g) * 8
    boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    return boxes, torch.rand(n, generator=g)


def coco_data(n_images: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """500 scenes of 1-8 objects of 5 classes and every size; detections: jittered hits, duplicates,
    false positives (about 12 per image)."""
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(n_images):
        m = int(rng.integers(1, 9))
        xy = rng.uniform(0, 500, (m, 2))
        wh = rng.choice([12.0, 50.0, 150.0], (m, 1)) * rng.uniform(0.5, 1.5, (m, 2))
        gt = np.concatenate([xy, xy + wh], 1)
        labels = rng.integers(1, 6, m)
        hits = rng.random(m) < 0.85
        dets = [gt[hits] + rng.normal(0, 1, (int(hits.sum()), 4)) * wh[hits].repeat(2, 1) * 0.1, gt[hits][:2]]
        det_labels = [labels[hits], labels[hits][:2]]
        n_fp = int(rng.integers(0, 6))
        fp_xy = rng.uniform(0, 500, (n_fp, 2))
        dets.append(np.concatenate([fp_xy, fp_xy + rng.uniform(5, 150, (n_fp, 2))], 1))
        det_labels.append(rng.integers(1, 6, n_fp))
        d = np.concatenate(dets)
        d[:, 2:] = np.maximum(d[:, 2:], d[:, :2])
        preds.append(
            {
                "boxes": torch.tensor(d, dtype=torch.float32),
                "labels": torch.tensor(np.concatenate(det_labels)),
                "scores": torch.tensor(rng.random(len(d)), dtype=torch.float32),
            }
        )
        targets.append({"boxes": torch.tensor(gt, dtype=torch.float32), "labels": torch.tensor(labels)})
    return preds, targets


def pycocotools_objects(preds, targets):
    from pycocotools.coco import COCO

    def xywh(b):
        return [b[0], b[1], b[2] - b[0], b[3] - b[1]]

    gt = {
        "images": [{"id": i} for i in range(len(targets))],
        "categories": [{"id": c} for c in range(1, 6)],
        "annotations": [],
    }
    for i, t in enumerate(targets):
        for box, c in zip(t["boxes"].tolist(), t["labels"].tolist(), strict=True):
            b = xywh(box)
            gt["annotations"].append(
                {
                    "id": len(gt["annotations"]) + 1,
                    "image_id": i,
                    "category_id": c,
                    "bbox": b,
                    "area": b[2] * b[3],
                    "iscrowd": 0,
                }
            )
    dets = [
        {"image_id": i, "category_id": c, "bbox": xywh(box), "score": s}
        for i, p in enumerate(preds)
        for box, s, c in zip(p["boxes"].tolist(), p["scores"].tolist(), p["labels"].tolist(), strict=True)
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dets)
    return coco_gt, coco_dt


def pycocotools_eval(coco_gt, coco_dt) -> np.ndarray:
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        e = COCOeval(coco_gt, coco_dt, "bbox")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e.stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    r = args.repeats
    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, {args.threads} thread(s), "
        f"median of {r}"
    )

    b1, b2 = random_boxes(1000, g), random_boxes(1000, g)
    report(
        "box_iou 1000 x 1000",
        median_time(partial(det.box_iou, b1, b2), r),
        median_time(partial(torchvision.ops.box_iou, b1, b2), r),
        1.5,
    )
    report(
        "generalized_box_iou 1000 x 1000",
        median_time(partial(det.generalized_box_iou, b1, b2), r),
        median_time(partial(torchvision.ops.generalized_box_iou, b1, b2), r),
    )

    boxes, scores = detector_candidates(2000, g)
    assert torch.equal(det.nms(boxes, scores, 0.5), torchvision.ops.nms(boxes, scores, 0.5))
    report(
        "nms 2000 detector candidates (50 objects)",
        median_time(partial(det.nms, boxes, scores, 0.5), r),
        median_time(partial(torchvision.ops.nms, boxes, scores, 0.5), r),
        3,
    )
    uniform, s2 = random_boxes(2000, g, 3000.0), torch.rand(2000, generator=g)
    report(
        "nms 2000 uniform boxes (most kept)",
        median_time(partial(det.nms, uniform, s2, 0.5), r),
        median_time(partial(torchvision.ops.nms, uniform, s2, 0.5), r),
    )
    idxs = torch.randint(0, 10, (2000,), generator=g)
    report(
        "batched_nms 2000 candidates, 10 classes",
        median_time(partial(det.batched_nms, boxes, scores, idxs, 0.5), r),
        median_time(partial(torchvision.ops.batched_nms, boxes, scores, idxs, 0.5), r),
    )

    features = torch.randn(2, 256, 50, 50, generator=g)  # a stride-16 map of an 800 x 800 image
    rois = torch.cat([torch.randint(0, 2, (256, 1), generator=g).float(), random_boxes(256, g, 600.0)], 1)
    for sr in (2, -1):
        report(
            f"roi_align 256 RoIs 7 x 7, C=256, sampling {sr}",
            median_time(partial(det.roi_align, features, rois, 7, 1 / 16, sr), r),
            median_time(partial(torchvision.ops.roi_align, features, rois, 7, 1 / 16, sr), r),
            5,
        )
    report(
        "roi_pool 256 RoIs 7 x 7, C=256",
        median_time(partial(det.roi_pool, features, rois, 7, 1 / 16), r),
        median_time(partial(torchvision.ops.roi_pool, features, rois, 7, 1 / 16), r),
    )

    logits, targets = torch.randn(8, 20000, generator=g), (torch.rand(8, 20000, generator=g) < 0.01).float()
    report(
        "sigmoid_focal_loss 8 x 20000",
        median_time(partial(det.sigmoid_focal_loss, logits, targets), r),
        median_time(partial(torchvision.ops.sigmoid_focal_loss, logits, targets), r),
    )
    cost = np.random.default_rng(0).random((100, 30))
    report(
        "linear_sum_assignment 100 x 30 (DETR size)",
        median_time(partial(det.linear_sum_assignment, cost), r),
        median_time(partial(scipy_lsa, cost), r),
    )

    preds, targs = coco_data(500)
    coco_gt, coco_dt = pycocotools_objects(preds, targs)
    ours = det.coco_map(preds, targs)
    stats = pycocotools_eval(coco_gt, coco_dt)
    assert abs(ours["map"] - stats[0]) < 1e-9, (ours["map"], stats[0])
    rc = max(3, r // 2)
    t_ours = median_time(partial(det.coco_map, preds, targs), rc)
    t_eval = median_time(partial(pycocotools_eval, coco_gt, coco_dt), rc)
    t_build = median_time(partial(pycocotools_objects, preds, targs), rc)
    report("coco_map 500 images vs COCOeval", t_ours, t_eval, 1.0)
    report("coco_map 500 images vs json + COCOeval", t_ours, t_eval + t_build)
    print(
        f"  (mAP {ours['map']:.4f} = pycocotools {stats[0]:.4f}; {sum(len(p['labels']) for p in preds)} "
        f"detections, {sum(len(t['labels']) for t in targs)} ground truths)"
    )


if __name__ == "__main__":
    main()
