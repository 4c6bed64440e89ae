r"""AdaBoost with decision stumps, exactly as the notes write it (section 4.2.1), and its spam example.

Freund and Schapire, 1997 (https://doi.org/10.1006/jcss.1997.1504); Viola and Jones, CVPR 2001, Table 1.
With :math:`N` samples, labels :math:`y \in \{-1, +1\}` and :math:`M` rounds:

1. :math:`w^{(i)} = 1/N`.
2. For :math:`j = 1..M`: fit the stump :math:`\mathrm{WL}_j` on the weighted data;
   :math:`\varepsilon_j = \sum_{i \text{ misclassified}} w^{(i)}`;
   :math:`\beta_j = (1 - \varepsilon_j) / \varepsilon_j`;
   :math:`w^{(i)} \leftarrow w^{(i)} \beta_j` for the misclassified samples, then renormalise to sum 1.
3. :math:`\mathrm{SL}(x) = \big(\sum_j \ln(\beta_j)\, \mathrm{WL}_j(x) > 0\big)`.

This is scikit-learn's ``AdaBoostClassifier`` (SAMME) for two classes: SAMME's estimator weight is
:math:`\ln\frac{1 - \varepsilon}{\varepsilon} + \ln(K - 1)`, i.e. :math:`\ln\beta` when K = 2, and it
multiplies the misclassified weights by :math:`e^{\ln\beta} = \beta`. The one difference is how the
stump is chosen: the notes (and Viola-Jones) take the stump of smallest weighted error
(``criterion="error"``); scikit-learn's ``DecisionTreeClassifier(max_depth=1)`` takes the split of
smallest weighted Gini impurity (``criterion="gini"``), which is often, not always, the same stump.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from cvcourse._checks import check_choice, check_int, check_tensor

__all__ = ["Stump", "fit_stump", "AdaBoost", "spam_example"]


@dataclass(frozen=True)
class Stump:
    r"""A decision stump: :math:`\mathrm{WL}(x) = \text{right if } x_{\text{feature}} > \text{threshold}
    \text{ else left}`, with ``left``, ``right`` in {-1, +1}.

    ``left = -1, right = +1`` is the notes' "x_f > threshold" (polarity +1); ``left = +1, right = -1``
    its opposite (polarity -1). This is scikit-learn's depth-1 tree: ``x <= threshold`` goes left.
    """

    feature: int
    threshold: float
    left: int = -1
    right: int = 1

    def predict(self, x: Tensor) -> Tensor:
        """Tensor[N, D] -> Tensor[N] of -1 / +1 (float64)."""
        return torch.where(x[:, self.feature] > self.threshold, float(self.right), float(self.left)).double()

    def __str__(self) -> str:
        if self.left == self.right:
            return f"always {self.left:+d}"
        return f"x{self.feature + 1} {'>' if self.right == 1 else '<='} {self.threshold:g}"


def _sorted_cumulative(x: Tensor, order: Tensor, y: Tensor, w: Tensor):
    """Weighted positives and negatives left of every split, for every feature at once.

    Returns:
        pos_left, neg_left (Tensor[N - 1, D]): weight of the positives / negatives among the k + 1
        smallest values of each feature; valid (Tensor[N - 1, D]): the split falls between two
        distinct values; thresholds (Tensor[N - 1, D]): the midpoints, computed as scikit-learn does.
    """
    xs = x.gather(0, order)  # [N, D] each column sorted
    ws, ys = w[order], y[order]  # [N, D]
    pos_left = (ws * (ys > 0)).cumsum(0)[:-1]  # [N - 1, D]
    neg_left = (ws * (ys < 0)).cumsum(0)[:-1]
    # scikit-learn's FEATURE_THRESHOLD: values closer than 1e-7 are one value
    valid = xs[1:] > xs[:-1] + 1e-7
    thresholds = xs[:-1] / 2.0 + xs[1:] / 2.0
    thresholds = torch.where(thresholds == xs[1:], xs[:-1], thresholds)  # as scikit-learn guards it
    return pos_left, neg_left, valid, thresholds


def fit_stump(
    x: Tensor, y: Tensor, w: Tensor, *, criterion: str = "error", order: Tensor | None = None
) -> tuple[Stump, float]:
    r"""The best stump on weighted data, searched over every feature and threshold at once.

    For a split after the k smallest values of feature d, let :math:`P_L, N_L` be the weight of the
    positives / negatives on the left and :math:`P, N` their totals. Predicting -1 left and +1 right
    misclassifies :math:`P_L + (N - N_L)`; the opposite polarity misclassifies the rest.
    ``criterion="gini"`` instead minimises :math:`\sum_{\text{side}} W_s (1 - p_s^2 - n_s^2)` (fractions
    within the side), as scikit-learn's tree does, and each side predicts its weighted majority.
    Ties go to the smallest feature, then the smallest threshold, then polarity +1.

    Args:
        x (Tensor[N, D]): features.
        y (Tensor[N]): labels in {-1, +1}.
        w (Tensor[N]): non-negative sample weights.
        criterion: ``"error"`` (the notes) or ``"gini"`` (scikit-learn).
        order (Tensor[N, D], optional): ``x.argsort(0)``, precomputed once when many stumps are fit
            on the same features (the cascade does).

    Returns:
        (stump, weighted error of the stump).
    """
    x = check_tensor("x", x, shape=("N", None), dtype="float").double()
    sizes = {"N": x.shape[0]}
    y = check_tensor("y", y, shape=("N",), sizes=sizes).double()
    w = check_tensor("w", w, shape=("N",), sizes=sizes, dtype="float", finite=True).double()
    check_choice("criterion", criterion, ("error", "gini"))
    if not bool(((y == 1) | (y == -1)).all()):
        raise ValueError("y must hold only -1 and +1")
    if bool((w < 0).any()):
        raise ValueError("w must be non-negative")
    if len(x) < 2:
        raise ValueError(f"x must have at least 2 samples, got {len(x)}")
    order = x.argsort(0) if order is None else order
    pos_left, neg_left, valid, thresholds = _sorted_cumulative(x, order, y, w)
    pos, neg = float(w[y > 0].sum()), float(w[y < 0].sum())
    if criterion == "error":
        err_plus = pos_left + (neg - neg_left)  # left -1, right +1: positives left, negatives right wrong
        cost = torch.stack([err_plus, (pos + neg) - err_plus], dim=-1)  # [N - 1, D, 2 polarities]
    else:
        left, right = pos_left + neg_left, (pos + neg) - pos_left - neg_left
        gini_left = left - (pos_left**2 + neg_left**2) / left.clamp_min(1e-300)
        pos_right, neg_right = pos - pos_left, neg - neg_left
        gini_right = right - (pos_right**2 + neg_right**2) / right.clamp_min(1e-300)
        cost = (gini_left + gini_right)[..., None].expand(-1, -1, 2)  # leaves vote below, not by polarity
    cost = torch.where(valid[..., None], cost, torch.inf)
    if not bool(torch.isfinite(cost).any()):  # every feature is constant: the best constant
        return Stump(0, math.inf, 1 if pos >= neg else -1, 1 if pos >= neg else -1), min(pos, neg)
    # order the candidates feature first, then threshold, then polarity: [D, N - 1, 2]
    flat = cost.permute(1, 0, 2).reshape(-1)
    best = int((flat <= flat.min() + 1e-12).nonzero()[0, 0])
    feature, rest = divmod(best, 2 * (len(x) - 1))
    k, polarity = divmod(rest, 2)
    threshold = float(thresholds[k, feature])
    if criterion == "error":
        left, right = (-1, 1) if polarity == 0 else (1, -1)
    else:  # each leaf predicts its weighted majority (a tie goes to -1, scikit-learn's first class)
        pl, nl = float(pos_left[k, feature]), float(neg_left[k, feature])
        left, right = (1 if pl > nl else -1), (1 if pos - pl > neg - nl else -1)
    stump = Stump(int(feature), threshold, left, right)
    error = float((w * (stump.predict(x) != y)).sum())
    return stump, error


class AdaBoost:
    r"""AdaBoost with decision stumps, the notes' algorithm step by step (see the module docstring).

    Args:
        n_estimators: M, the number of stumps.
        criterion: how a stump is chosen, ``"error"`` (the notes) or ``"gini"`` (scikit-learn).

    Attributes (after ``fit``):
        stumps_: the M stumps; ``errors_`` (ε_j), ``betas_`` (β_j), ``estimator_weights_`` (ln β_j);
        weights_: Tensor[M + 1, N], the normalised sample weights before each round (row 0 is 1/N)
        and after the last.

    Boosting stops early, as scikit-learn does, when a stump is perfect (ε = 0: it is kept with
    weight 1) or no better than chance (ε >= 1/2: it is dropped).
    """

    def __init__(self, n_estimators: int = 3, *, criterion: str = "error") -> None:
        self.n_estimators = check_int("n_estimators", n_estimators, low=1)
        self.criterion = check_choice("criterion", criterion, ("error", "gini"))

    def fit(self, x: Tensor, y: Tensor) -> AdaBoost:
        x = check_tensor("x", x, shape=("N", None), dtype="float").double()
        y = check_tensor("y", y, shape=(x.shape[0],)).double()
        order = x.argsort(0)  # the features never change: sort them once
        w = torch.full((len(x),), 1.0 / len(x), dtype=torch.float64)  # step 1
        self.stumps_, self.errors_, self.betas_, weights = [], [], [], [w]
        for _ in range(self.n_estimators):
            stump, eps = fit_stump(x, y, w, criterion=self.criterion, order=order)  # a), b)
            if eps >= 0.5:
                break
            self.stumps_.append(stump)
            self.errors_.append(eps)
            if eps <= 0:
                self.betas_.append(math.e)  # ln beta = 1, scikit-learn's weight for a perfect stump
                break
            beta = (1 - eps) / eps  # c)
            self.betas_.append(beta)
            wrong = stump.predict(x) != y
            w = torch.where(wrong, w * beta, w)  # d) misclassified weights times beta
            w = w / w.sum()  # ... and renormalise
            weights.append(w)
        self.weights_ = torch.stack(weights)
        self.estimator_weights_ = torch.tensor([math.log(b) for b in self.betas_], dtype=torch.float64)
        return self

    def decision_function(self, x: Tensor) -> Tensor:
        r""":math:`\sum_j \ln(\beta_j)\, \mathrm{WL}_j(x)`, Tensor[N]."""
        x = check_tensor("x", x, shape=(None, None), dtype="float").double()
        votes = torch.stack([s.predict(x) for s in self.stumps_], dim=1)  # [N, M]
        return votes @ self.estimator_weights_

    def predict(self, x: Tensor) -> Tensor:
        r""":math:`\mathrm{SL}(x)`: +1 where :math:`\sum_j \ln\beta_j \mathrm{WL}_j(x) > 0`, else -1.

        The notes' final formula says "> 0"; their worked example writes ">= 0". They differ only on a
        tie (a sum of exactly 0), where we follow the formula and scikit-learn (-1).
        """
        return torch.where(self.decision_function(x) > 0, 1.0, -1.0).double()


def spam_example() -> tuple[Tensor, Tensor]:
    r"""The notes' spam data: 8 e-mails, :math:`x_1` = number of URLs, :math:`x_2` = capitalised words.

    The notes' table was lost with their figures; this one is built so that AdaBoost with
    weighted-error stumps reproduces every number of their example: :math:`\varepsilon_1 = 2/8`,
    :math:`\beta_1 = 3` with :math:`x_1 > 3`; :math:`\varepsilon_2 = 2/12`, :math:`\beta_2 = 5` with
    :math:`x_1 > 10`; :math:`\varepsilon_3 = 1/20 + 1/20 + 3/20`, :math:`\beta_3 = 3` with
    :math:`x_2 > 20`, and the same final classifier. In the first round :math:`x_1 > 3`,
    :math:`x_1 > 6.5` and :math:`x_1 > 10` tie at 2/8 (the notes' numbers force a tie: the second stump
    errs on two samples of weight 1/12, so on two samples only, 2/8 at uniform weights); ties go to
    the smallest threshold. Rounds 2 and 3 have a single best stump.

    Returns:
        x (Tensor[8, 2], float64), y (Tensor[8], +1 spam / -1 not spam).
    """
    table = [  # x1 URLs, x2 capitalised words, spam?
        (1, 18, -1),
        (2, 53, -1),  # x2 > 20 calls it spam, wrongly (round 3)
        (5, 17, -1),  # x1 > 3 calls it spam, wrongly (round 1)
        (9, 50, -1),  # x1 > 3 wrong (round 1), x2 > 20 wrong (round 3)
        (4, 57, 1),  # x1 > 10 misses it (round 2)
        (8, 22, 1),  # x1 > 10 misses it (round 2)
        (11, 6, 1),  # x2 > 20 misses it (round 3)
        (14, 29, 1),
    ]
    data = torch.tensor(table, dtype=torch.float64)
    return data[:, :2], data[:, 2]
