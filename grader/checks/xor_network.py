"""Checks of 02_xor_network: init_network, forward, compute_loss, backward, update, train, predict."""
from __future__ import annotations

import numpy as np

from .. import network
from . import StudentFailure, check

NB = "02_xor_network"
XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])


def random_params(t, d: int, h: int, k: int, scale: float = 1.0) -> dict:
    r = t.rng
    return {"W1": r.normal(size=(d, h)) * scale, "b1": r.normal(size=(1, h)) * scale,
            "W2": r.normal(size=(h, k)) * scale, "b2": r.normal(size=(1, k)) * scale}


def random_problem(t):
    """X (n, d), y (n, k) of 0/1, and random parameters of a d-h-k network."""
    r = t.rng
    n, d, h, k = int(r.integers(4, 8)), int(r.integers(2, 4)), int(r.integers(3, 6)), int(r.integers(1, 3))
    X = r.normal(size=(n, d))
    y = r.integers(0, 2, size=(n, k)).astype(float)
    return X, y, random_params(t, d, h, k)


def legacy_init(n_inputs, n_hidden, n_outputs, seed):
    """What np.random.seed + np.random.randn would give (a common slip from the lesson's code)."""
    state = np.random.RandomState(seed)
    return state.randn(n_inputs, n_hidden) * 0.5


# --- init_network -----------------------------------------------------------------------------
@check(NB, "init_network", "values", "shapes and values for other sizes and seeds")
def init_network_values(t):
    r = t.rng
    for i in range(2):
        sizes = dict(n_inputs=int(r.integers(2, 5)), n_hidden=int(r.integers(2, 7)),
                     n_outputs=int(r.integers(1, 3)), seed=int(r.integers(0, 10_000)))
        params = t.call("init_network", **sizes)
        legacy = legacy_init(sizes["n_inputs"], sizes["n_hidden"], sizes["n_outputs"], sizes["seed"])
        t.reference(f"sizes and seed #{i + 1}", params, hints=[
            ("drawn with np.random.seed/randn; the contract uses np.random.default_rng(seed)",
             lambda e, legacy=legacy: legacy),
        ])


@check(NB, "init_network", "defaults", "the defaults give the 2-4-1 network of seed 42")
def init_network_defaults(t):
    t.reference("init_network()", t.call("init_network"))


# --- forward ---------------------------------------------------------------------------------
@check(NB, "forward", "values", "A2 matches the reference for random inputs and parameters")
def forward_values(t):
    X, _, params = random_problem(t)
    out = t.call("forward", X, params)
    if t.require("returns (A2, cache)", isinstance(out, (tuple, list)) and len(out) == 2,
                 "must return a tuple (A2, cache)"):
        t.reference("A2", out[0])


@check(NB, "forward", "cache", "the cache holds Z1, A1, Z2, A2")
def forward_cache(t):
    X, _, params = random_problem(t)
    out = t.call("forward", X, params)
    if not t.require("returns (A2, cache)", isinstance(out, (tuple, list)) and len(out) == 2,
                     "must return a tuple (A2, cache)"):
        return
    cache = out[1]
    if t.require("the cache is a dict", isinstance(cache, dict), "the cache must be a dict"):
        t.reference("cache", {k: cache.get(k) for k in ("Z1", "A1", "Z2", "A2")} if isinstance(cache, dict) else cache)


# --- compute_loss ------------------------------------------------------------------------------
@check(NB, "compute_loss", "values", "L = 1/2 * sum of squared errors, for several shapes")
def compute_loss_values(t):
    r = t.rng
    for label, shape in [("n=4, one output", (4, 1)), ("n=7, two outputs", (7, 2))]:
        y_hat, y = r.uniform(size=shape), r.integers(0, 2, size=shape).astype(float)
        n = shape[0] * shape[1]
        t.reference(label, t.call("compute_loss", y_hat, y), hints=[
            ("the mean is taken instead of the sum", lambda e, n=n: e / n),
            ("the mean over samples is taken instead of the sum", lambda e, rows=shape[0]: e / rows),
            ("the factor 1/2 is missing", lambda e: 2 * e),
        ])


# --- backward ----------------------------------------------------------------------------------
def gradient_hints(n: int):
    return [("the gradient is averaged over samples (mean) instead of summed", lambda e: e / n)]


@check(NB, "backward", "gradient_check", "gradients agree with central finite differences of L")
def backward_gradient_check(t):
    X, y, params = random_problem(t)
    cache = network.forward(X, params)
    grads = t.call("backward", X, y, params, cache)
    numerical = network.numerical_gradient(X, y, params)
    if t.require("returns a dict of gradients", isinstance(grads, dict), "must return a dict W1, b1, W2, b2"):
        for key in network.PARAMS:
            t.expect(f"dL/d{key}", grads.get(key), numerical[key], hints=gradient_hints(X.shape[0]))


@check(NB, "backward", "values", "gradients on XOR match the reference")
def backward_values(t):
    params = random_params(t, 2, 4, 1, scale=0.5)
    cache = network.forward(XOR_X, params)
    grads = t.call("backward", XOR_X, XOR_Y, params, cache)
    t.reference("XOR data", grads, hints=gradient_hints(XOR_X.shape[0]))


# --- update ------------------------------------------------------------------------------------
def update_data(t):
    X, y, params = random_problem(t)
    grads = {k: t.rng.normal(size=v.shape) for k, v in params.items()}
    return params, grads, float(t.rng.uniform(0.05, 1.0))


@check(NB, "update", "values", "theta - learning_rate * grad for every parameter")
def update_values(t):
    params, grads, lr = update_data(t)
    new = t.call("update", params, grads, lr)
    if not t.require("returns a dict", isinstance(new, dict), "must return a new dict of parameters"):
        return
    for key in network.PARAMS:
        t.reference(key, new.get(key), hints=[
            ("the update adds the gradient (gradient ascent)", lambda e, p=params[key]: 2 * p - e),
        ])


@check(NB, "update", "inputs_unchanged", "does not modify the parameters or gradients passed in")
def update_inputs_unchanged(t):
    params, grads, lr = update_data(t)
    _, after, _ = t.call_echo("update", params, grads, lr)
    names = ("params", "grads", "learning_rate")
    t.unchanged("arguments after the call", dict(zip(names, (params, grads, lr))), dict(zip(names, after)))


# --- train -------------------------------------------------------------------------------------
def own_trajectory(t, X, y, params, lr, epochs):
    """The trajectory that the student's own forward, compute_loss, backward and update give."""
    losses = []
    for _ in range(epochs):
        out = t.call("forward", X, params)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise StudentFailure("forward does not return (A2, cache)")
        losses.append(t.call("compute_loss", out[0], y))
        grads = t.call("backward", X, y, params, out[1])
        params = t.call("update", params, grads, lr)
    return params, np.asarray(losses, dtype=float)


@check(NB, "train", "trajectory", "a short training run from a given start matches the reference")
def train_trajectory(t):
    X, y, params = random_problem(t)
    lr, epochs = float(t.rng.uniform(0.1, 1.0)), int(t.rng.integers(3, 7))
    out = t.call("train", X, y, params, learning_rate=lr, epochs=epochs)
    if not t.require("returns (params, losses)", isinstance(out, (tuple, list)) and len(out) == 2,
                     "must return a tuple (params, losses)"):
        return
    mine = {}

    def own():
        if not mine:
            mine["params"], mine["losses"] = own_trajectory(t, X, y, params, lr, epochs)
        return mine

    losses = np.asarray(out[1]) if isinstance(out[1], (list, tuple, np.ndarray)) else out[1]
    t.reference("losses", losses,
                alternative=lambda: ("your own forward, compute_loss, backward and update", own()["losses"]))
    t.reference("final parameters", out[0],
                alternative=lambda: ("your own forward, backward and update", own()["params"]))


# --- predict -----------------------------------------------------------------------------------
@check(NB, "predict", "values", "0/1 integer predictions (n, k), 1 where A2 >= 0.5")
def predict_values(t):
    X, _, params = random_problem(t)

    def own():
        out = t.call("forward", X, params)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise StudentFailure("forward does not return (A2, cache)")
        return "thresholding your own forward at 0.5", (np.asarray(out[0], dtype=float) >= 0.5).astype(int)

    t.reference("random network", t.call("predict", X, params), integer=True, alternative=own)
    flat = {**params, "W2": np.zeros_like(params["W2"]), "b2": np.zeros_like(params["b2"])}
    t.reference("output exactly 0.5", t.call("predict", X, flat), integer=True,
                hints=[("uses > 0.5 instead of >= 0.5", lambda e: np.zeros_like(e))])
