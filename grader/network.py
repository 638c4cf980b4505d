"""The contract's network maths, for the grader's own use in the parent process.

Used to build inputs that must be right (the cache handed to `backward`) and for the
central finite-difference gradient check. Never sent to a student process.

Shapes: X (n, d), y (n, k), W1 (d, h), b1 (1, h), W2 (h, k), b2 (1, k).
"""
from __future__ import annotations

import numpy as np

PARAMS = ("W1", "b1", "W2", "b2")


def sigmoid(z):
    """Numerically stable logistic function, elementwise."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=float)))


def forward(X, params):
    """Z1 = X W1 + b1, A1 = s(Z1), Z2 = A1 W2 + b2, A2 = s(Z2); returns the cache dict."""
    Z1 = X @ params["W1"] + params["b1"]
    A1 = sigmoid(Z1)
    Z2 = A1 @ params["W2"] + params["b2"]
    A2 = sigmoid(Z2)
    return {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def loss(X, y, params) -> float:
    """L = 1/2 * sum((A2 - y)^2), summed over samples and outputs."""
    return 0.5 * float(np.sum((forward(X, params)["A2"] - y) ** 2))


def numerical_gradient(X, y, params, eps: float = 1e-6) -> dict:
    """dL/dtheta for every parameter by central differences: (L(t+eps) - L(t-eps)) / 2eps."""
    grads = {}
    for key in PARAMS:
        theta = np.array(params[key], dtype=float)
        g = np.zeros_like(theta)
        for idx in np.ndindex(theta.shape):
            shifted = {k: np.array(v, dtype=float) for k, v in params.items()}
            shifted[key][idx] = theta[idx] + eps
            up = loss(X, y, shifted)
            shifted[key][idx] = theta[idx] - eps
            down = loss(X, y, shifted)
            g[idx] = (up - down) / (2 * eps)
        grads[key] = g
    return grads
