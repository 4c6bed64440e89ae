"""maskformer.py: the inference rule s_i = p_i(c_i) m_i(u, v) on a hand-made case (panoptic,
semantic, instance), written-out loops on random queries, and Mask2Former's masked attention mask
with its empty-mask fallback."""

import math

import pytest
import torch

from cvcourse.segmentation.maskformer import masked_attention_mask, maskformer_inference

D = torch.float64


def logit(p):
    p = torch.as_tensor(p, dtype=D)
    return torch.log(p / (1 - p))


def hand_case():
    """Q = 4 queries, C = 3 classes (0 a thing, 1 and 2 stuff), a 2 x 4 image.

    q0: class 0 with p = 0.9, mask 0.9 on columns 0-1 (0.1 elsewhere);
    q1: class 0 with p = 0.85, mask 0.95 on columns 1-2;
    q2: class 2 with p = 0.9, mask 0.9 on column 3 (0.2 elsewhere);
    q3: "no object" most likely: dropped.
    Column 1: s_0 = 0.81 > s_1 = 0.8075, so q0 wins it; column 2: s_1 = 0.8075 > s_2 = 0.18, s_0 = 0.09;
    column 3: s_2 = 0.81. q1 wins 2 of its 4 mask pixels: 0.5 of its mask.
    """
    p = torch.tensor(
        [[0.9, 0.05, 0.03, 0.02], [0.85, 0.05, 0.05, 0.05], [0.02, 0.03, 0.9, 0.05], [0.1, 0.1, 0.1, 0.7]],
        dtype=D,
    )
    m = torch.full((4, 2, 4), 0.1, dtype=D)
    m[0, :, :2] = 0.9
    m[1, :, 1:3] = 0.95
    m[2] = 0.2
    m[2, :, 3] = 0.9
    m[3] = 0.6
    return torch.log(p), logit(m), p, m


def test_panoptic_hand_made():
    cls, masks, _, _ = hand_case()
    out = maskformer_inference(cls, masks, "panoptic", things={0})
    # q1 wins only 0.5 < 0.8 of its mask: dropped, its column is void (-1)
    expected_cat = torch.tensor([[0, 0, -1, 2]] * 2)
    expected_ins = torch.tensor([[1, 1, 0, 0]] * 2)
    assert torch.equal(out[..., 0], expected_cat) and torch.equal(out[..., 1], expected_ins)
    # with overlap_threshold 0.5 it is kept, as the second instance of class 0
    out = maskformer_inference(cls, masks, "panoptic", things={0}, overlap_threshold=0.5)
    assert torch.equal(out[..., 0], torch.tensor([[0, 0, 0, 2]] * 2))
    assert torch.equal(out[..., 1], torch.tensor([[1, 1, 2, 0]] * 2))
    # p_i(c_i) must exceed object_mask_threshold: at 0.86 q1 (0.85) goes
    out = maskformer_inference(
        cls, masks, "panoptic", things={0}, object_mask_threshold=0.86, overlap_threshold=0.5
    )
    assert torch.equal(out[..., 0], torch.tensor([[0, 0, -1, 2]] * 2))
    # class 0 as stuff: q0 and q1 merge into one segment (instance 0)
    out = maskformer_inference(cls, masks, "panoptic", things=set(), overlap_threshold=0.5, void=9)
    assert torch.equal(out[..., 0], torch.tensor([[0, 0, 0, 2]] * 2)) and not bool(out[..., 1].any())
    # nothing kept: all void
    out = maskformer_inference(cls, masks, "panoptic", object_mask_threshold=0.95, void=7)
    assert bool((out[..., 0] == 7).all()) and not bool(out[..., 1].any())


def test_semantic_and_instance_hand_made():
    cls, masks, p, m = hand_case()
    sem = maskformer_inference(cls, masks, "semantic")
    assert sem.shape == (3, 2, 4)
    for c in range(3):
        for u in range(2):
            for v in range(4):
                want = sum(float(p[i, c]) * float(m[i, u, v]) for i in range(4))
                assert math.isclose(float(sem[c, u, v]), want, rel_tol=1e-12)
    assert sem.argmax(0).tolist() == [[0, 0, 0, 2]] * 2
    inst = maskformer_inference(cls, masks, "instance", topk=3)
    # the three largest p_i(c): (q0, 0) 0.9, (q2, 2) 0.9, (q1, 0) 0.85
    pairs = sorted(zip(inst["labels"].tolist(), inst["scores"].tolist(), strict=True), key=lambda t: -t[1])
    assert sorted(inst["labels"].tolist()) == [0, 0, 2]
    q0_score = 0.9 * 0.9  # p times the mean of m over its binary mask (columns 0-1, m = 0.9)
    assert any(math.isclose(s, q0_score, rel_tol=1e-5) for _, s in pairs)
    assert inst["masks"].shape == (3, 2, 4) and inst["masks"].dtype == torch.bool
    assert len(maskformer_inference(cls, masks, "instance", topk=1000)["scores"]) == 4 * 3


@pytest.mark.parametrize("seed", range(3))
def test_random_queries_against_loops(seed):
    g = torch.Generator().manual_seed(seed)
    Q, C, H, W = 6, 4, 5, 7
    cls = torch.randn(Q, C + 1, generator=g, dtype=D) * 3
    masks = torch.randn(Q, H, W, generator=g, dtype=D) * 3
    p, m = cls.softmax(-1), masks.sigmoid()
    out = maskformer_inference(
        cls, masks, "panoptic", things={0, 1}, object_mask_threshold=0.3, overlap_threshold=0.3
    )
    score, label = p.max(-1)
    kept = [i for i in range(Q) if int(label[i]) != C and float(score[i]) > 0.3]
    s = {i: float(score[i]) * m[i] for i in kept}
    for u in range(H):
        for v in range(W):
            if not kept:
                assert int(out[u, v, 0]) == -1
                continue
            best = max(kept, key=lambda i: (float(s[i][u, v]), -i))
            own = int((m[best] >= 0.5).sum())
            won = sum(
                1
                for a in range(H)
                for b in range(W)
                if max(kept, key=lambda i, a=a, b=b: (float(s[i][a, b]), -i)) == best
            )
            if float(m[best, u, v]) >= 0.5 and won / own >= 0.3:
                assert int(out[u, v, 0]) == int(label[best])
            else:
                assert int(out[u, v, 0]) == -1
    assert set(out[..., 0].unique().tolist()) <= {-1, *[int(label[i]) for i in kept]}
    assert len(out[..., 0].unique()) >= 3  # a non-trivial case: void and at least two classes
    assert torch.equal(out[..., 1] > 0, torch.isin(out[..., 0], torch.tensor([0, 1])))  # things only
    inst = maskformer_inference(cls, masks, "instance", topk=5)
    top = p[:, :C].flatten().topk(5)
    for k, flat in enumerate(top.indices.tolist()):
        q, c = divmod(flat, C)
        binary = masks[q] > 0
        mean = float((m[q] * binary).sum()) / (int(binary.sum()) + 1e-6)
        assert int(inst["labels"][k]) == c and torch.equal(inst["masks"][k], binary)
        assert math.isclose(float(inst["scores"][k]), float(top.values[k]) * mean, rel_tol=1e-12)


def test_inference_bad_input():
    cls, masks, _, _ = hand_case()
    with pytest.raises(ValueError, match="mode"):
        maskformer_inference(cls, masks, "stuff")
    with pytest.raises(ValueError, match="mask_logits"):
        maskformer_inference(cls, masks[:2], "semantic")
    with pytest.raises(ValueError, match="things"):
        maskformer_inference(cls, masks, "panoptic", things={3})
    with pytest.raises(TypeError, match="class_logits"):
        maskformer_inference(cls.tolist(), masks)
    with pytest.raises(ValueError, match="C \\+ 1"):
        maskformer_inference(cls[:, :1], masks)


def test_masked_attention_mask():
    logits = torch.tensor(
        [[[2.0, -1.0], [0.0, -3.0]], [[-2.0, -1.0], [-0.5, -3.0]], [[1.0, 1.0], [1.0, 1.0]]]
    )  # q1's mask is empty
    blocked = masked_attention_mask(logits)
    assert blocked.shape == (3, 4) and blocked.dtype == torch.bool
    # sigmoid(0) = 0.5 is attended (not < 0.5); q1 empty: attends everywhere
    assert blocked.tolist() == [[False, True, False, True], [False] * 4, [False] * 4]
    # Mask2Former's two lines, batched
    x = torch.randn(2, 5, 6, 7, generator=torch.Generator().manual_seed(0)) * 2
    x[0, 3] = -10.0
    ref = x.flatten(-2).sigmoid() < 0.5
    ref[torch.where(ref.sum(-1) == ref.shape[-1])] = False
    assert torch.equal(masked_attention_mask(x), ref)
    # the fallback is what keeps attention finite: with the empty query fully blocked it is NaN
    attn = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    q, kv = torch.randn(1, 5, 8), torch.randn(1, 42, 8)
    ok, _ = attn(q, kv, kv, attn_mask=masked_attention_mask(x[0]))
    raw, _ = attn(q, kv, kv, attn_mask=x[0].flatten(-2).sigmoid() < 0.5)
    assert bool(torch.isfinite(ok).all()) and bool(torch.isnan(raw[0, 3]).all())
    with pytest.raises(ValueError, match="threshold"):
        masked_attention_mask(x, threshold=1.0)
    with pytest.raises(ValueError, match="mask_logits"):
        masked_attention_mask(x[0, 0])
