r"""Optimal one-to-one assignment: the Hungarian algorithm in its shortest-augmenting-path form
(Kuhn 1955, Munkres 1957; the O(n^2 m) form with potentials of Jonker & Volgenant 1987, which is also
what ``scipy.optimize.linear_sum_assignment`` implements). DETR (next chapter) matches its
predictions to the ground truth with it.

Problem: given a cost matrix :math:`C \in \mathbb{R}^{n \times m}` with :math:`n \le m`, choose one
distinct column :math:`\sigma(i)` per row minimising :math:`\sum_i C_{i\sigma(i)}`.

Algorithm. Keep potentials :math:`u_i` (rows) and :math:`v_j` (columns) with reduced costs
:math:`C_{ij} - u_i - v_j \ge 0`, zero on the matched pairs (``u``, ``v``, ``row_of``). Add the rows one
at a time; for row :math:`i`, grow a tree of alternating paths from it, Dijkstra-like: ``slack[j]`` is
the smallest reduced cost of reaching column :math:`j` so far (``via[j]`` the column before it on
that path); take the unvisited column of least slack :math:`\delta`, shift the potentials by
:math:`\delta` (visited rows up, visited columns down) so that its reduced cost becomes 0, and stop at
the first free column; then flip the path (matched pairs become unmatched and back), which matches one
more row. Each row costs O(n m); the inner work over columns is one vector operation here.

Same optimum as ``scipy.optimize.linear_sum_assignment`` (when costs tie, the pairs chosen may
differ; the total never does).
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from cvcourse._checks import check_bool, check_type

__all__ = ["linear_sum_assignment"]


def _as_matrix(cost) -> np.ndarray:
    check_type("cost", cost, (np.ndarray, Tensor, list, tuple), "a 2-D array or tensor of numbers")
    if isinstance(cost, Tensor):
        cost = cost.detach().cpu().double().numpy()
    matrix = np.asarray(cost)
    if matrix.dtype == bool or not (np.issubdtype(matrix.dtype, np.number) and not np.iscomplexobj(matrix)):
        raise TypeError(f"cost must hold real numbers, got dtype {matrix.dtype}")
    if matrix.ndim != 2:
        raise ValueError(f"cost must be a 2-D matrix [n, m], got shape {list(matrix.shape)}")
    matrix = matrix.astype(np.float64)
    if not np.isfinite(matrix).all():
        raise ValueError(
            "cost must hold only finite numbers, got NaN or inf (forbid a pair with a large "
            "finite cost instead)"
        )
    return matrix


def _hungarian(cost: np.ndarray) -> np.ndarray:
    """Columns assigned to the rows of ``cost`` [n, m], n <= m: ndarray[n] of column indices."""
    n, m = cost.shape
    u = np.zeros(n + 1)  # row potentials; index 0 is the virtual row of the tree's root
    v = np.zeros(m + 1)  # column potentials; column 0 is virtual: it holds the row being added
    row_of = np.zeros(m + 1, dtype=np.int64)  # row matched to each column (0: free); rows 1-based
    via = np.zeros(m + 1, dtype=np.int64)  # previous column on the cheapest path found to each column
    for i in range(1, n + 1):
        row_of[0] = i
        col = 0  # the path starts at the virtual column holding row i
        slack = np.full(m + 1, np.inf)
        visited = np.zeros(m + 1, dtype=bool)
        while True:
            visited[col] = True
            row = row_of[col]
            # reduced costs from this row to every column; keep the cheapest way to each
            reduced = cost[row - 1] - u[row] - v[1:]  # [m]
            better = ~visited[1:] & (reduced < slack[1:])
            slack[1:][better] = reduced[better]
            via[1:][better] = col
            free_slack = np.where(visited, np.inf, slack)
            nxt = int(np.argmin(free_slack))  # the unvisited column of least slack ...
            delta = free_slack[nxt]
            u[row_of[visited]] += delta  # ... is made tight: visited rows up, visited columns down
            v[visited] -= delta
            slack[~visited] -= delta
            col = nxt
            if row_of[col] == 0:  # a free column: the augmenting path is found
                break
        while col:  # flip the path back to the root
            prev = via[col]
            row_of[col] = row_of[prev]
            col = prev
    assignment = np.zeros(n, dtype=np.int64)
    for j in range(1, m + 1):
        if row_of[j]:
            assignment[row_of[j] - 1] = j - 1
    return assignment


def linear_sum_assignment(cost, maximize: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost assignment of rows to columns (each used at most once), like
    ``scipy.optimize.linear_sum_assignment``.

    Args:
        cost: a cost matrix [n, m] (ndarray, tensor or nested list) of finite real numbers; n and m
            may differ (min(n, m) pairs are made).
        maximize: find the maximum-weight assignment instead.

    Returns:
        ``(row_ind, col_ind)``: int64 ndarrays of the pairs, ``row_ind`` increasing;
        ``cost[row_ind, col_ind].sum()`` is the optimum.
    """
    matrix = _as_matrix(cost)
    check_bool("maximize", maximize)
    if maximize:
        matrix = -matrix
    n, m = matrix.shape
    if n == 0 or m == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if n <= m:
        return np.arange(n), _hungarian(matrix)
    cols_of_rows = _hungarian(matrix.T)  # more rows than columns: assign the columns instead
    order = np.argsort(cols_of_rows)
    return cols_of_rows[order], np.arange(m)[order]
