"""Small math shared by scoring, attribution and evaluation: decay rates, the logistic curve, its fit."""

from __future__ import annotations

import math

import numpy as np


def decay_rate(half_life_days: float) -> float:
    """The exponent per day of a half-life decay: a touch keeps ``exp(rate * age_days)`` of its points.

    The same as ``0.5 ** (age_days / half_life_days)`` to a few units in the last place, and an
    engine computes an exponential in about half the time of a power.
    """
    return -math.log(2.0) / half_life_days


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), written with tanh so large |x| neither overflows nor warns."""
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def fit_logistic(
    X: np.ndarray,
    successes: np.ndarray,
    trials: np.ndarray,
    l2: float = 0.0,
    beta: np.ndarray | None = None,
    iterations: int = 25,
    tol: float = 1e-10,
) -> np.ndarray:
    """Binomial logistic regression by Newton's method; column 0 is the (unpenalised) intercept.

    `successes` of `trials` per row (1 of 1 or 0 of 1 for plain yes/no rows); `beta`
    warm-starts the fit, otherwise the intercept starts at the overall log-odds.
    """
    k = X.shape[1]
    start = beta
    beta = np.zeros(k) if start is None else start.copy()
    if start is None:
        rate = successes.sum() / max(trials.sum(), 1e-12)
        rate = min(max(rate, 1e-6), 1 - 1e-6)
        beta[0] = np.log(rate / (1 - rate))
    penalty = np.full(k, l2)
    penalty[0] = 0.0
    for _ in range(iterations):
        p = sigmoid(X @ beta)
        grad = X.T @ (successes - trials * p) - penalty * beta
        w = trials * p * (1 - p)
        hess = (X * w[:, None]).T @ X + np.diag(penalty) + 1e-9 * np.eye(k)
        step = np.linalg.solve(hess, grad)
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            break
    return beta
