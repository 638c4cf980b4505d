"""Checks of 02_xor_network: init_network, forward, compute_loss, backward, update, train, predict.

The contract's network functions work for any layer sizes, so every check that takes a
network has a case with one output and a case with several, of the same sizes in every
variant (sizes chosen so that no two of n, d, h, k coincide and h is not the default 4).
"""
from __future__ import annotations

import numpy as np

from .. import network
from . import StudentFailure, check, numbers
from .perceptron import STRICT, spread

NB = "02_xor_network"
XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])
# (label, n, d, h, k) of the random problems every variant has
SIZES = (("one output", 6, 3, 5, 1), ("two outputs", 5, 2, 3, 2))


def random_params(t, d: int, h: int, k: int, scale: float = 1.0) -> dict:
    r = t.rng
    return {"W1": spread(r, (d, h), 1.0) * scale, "b1": spread(r, (1, h), -1.0) * scale,
            "W2": spread(r, (h, k), -1.0) * scale, "b2": spread(r, (1, k), 1.0) * scale}


def problems(t):
    """[(label, X (n, d), y (n, k) of 0/1 with both classes in every column, params)] for SIZES."""
    r = t.rng
    out = []
    for label, n, d, h, k in SIZES:
        X = spread(r, (n, d), 1.0)
        y = np.stack([r.permutation(np.arange(n) % 2) for _ in range(k)], axis=1).astype(float)
        out.append((label, X, y, random_params(t, d, h, k)))
    return out


def legacy_init(n_inputs, n_hidden, n_outputs, seed):
    """What np.random.seed + np.random.randn would give (a common slip from the lesson's code)."""
    state = np.random.RandomState(seed)
    return state.randn(n_inputs, n_hidden) * 0.5


def pair(out) -> bool:
    return isinstance(out, (tuple, list)) and len(out) == 2


# --- init_network -----------------------------------------------------------------------------
@check(NB, "init_network", "values", "shapes and values for other sizes and seeds, one and two outputs")
def init_network_values(t):
    for label, _, d, h, k in SIZES:
        sizes = dict(n_inputs=d, n_hidden=h, n_outputs=k, seed=int(t.rng.integers(0, 10_000)))
        legacy = legacy_init(d, h, k, sizes["seed"])
        with t.case(label):
            t.reference(label, t.call("init_network", **sizes), hints=[
                ("drawn with np.random.seed/randn; the contract uses np.random.default_rng(seed)",
                 lambda e, legacy=legacy: legacy),
            ])


@check(NB, "init_network", "defaults", "the defaults give the 2-4-1 network of seed 42")
def init_network_defaults(t):
    t.reference("init_network()", t.call("init_network"))


# --- forward ---------------------------------------------------------------------------------
@check(NB, "forward", "values", "A2 matches the reference for random inputs and parameters, one and two outputs")
def forward_values(t):
    for label, X, _, params in problems(t):
        with t.case(label):
            out = t.call("forward", X, params)
            if t.require(f"{label}: returns (A2, cache)", pair(out), "must return a tuple (A2, cache)"):
                t.reference(label, out[0])


@check(NB, "forward", "cache", "the cache holds Z1, A1, Z2, A2, one and two outputs")
def forward_cache(t):
    for label, X, _, params in problems(t):
        with t.case(label):
            out = t.call("forward", X, params)
            if not t.require(f"{label}: returns (A2, cache)", pair(out),
                             "must return a tuple (A2, cache)"):
                continue
            cache = out[1]
            if t.require(f"{label}: the cache is a dict", isinstance(cache, dict), "the cache must be a dict"):
                t.reference(label, {k: cache.get(k) for k in ("Z1", "A1", "Z2", "A2")})


# --- compute_loss ------------------------------------------------------------------------------
def loss_hints(n: int, k: int):
    """The slips that change L by a factor, named for what they are (with one output the
    mean over samples and the mean over entries coincide; with two they do not)."""
    return [
        ("the mean over all entries is taken instead of the sum, and the factor 1/2 is missing",
         lambda e: 2 * e / (n * k)),
        ("the mean over all entries is taken instead of the sum", lambda e: e / (n * k)),
        ("the mean over samples is taken instead of the sum, and the factor 1/2 is missing",
         lambda e: 2 * e / n),
        ("the mean over samples is taken instead of the sum", lambda e: e / n),
        ("the factor 1/2 is missing", lambda e: 2 * e),
    ]


@check(NB, "compute_loss", "values", "L = 1/2 * sum of squared errors, for several shapes")
def compute_loss_values(t):
    r = t.rng
    for label, shape in [("n=4, one output", (4, 1)), ("n=7, two outputs", (7, 2))]:
        y_hat, y = r.uniform(0.05, 0.95, size=shape), r.permutation(np.arange(shape[0] * shape[1]) % 2)
        y = y.reshape(shape).astype(float)
        with t.case(label):
            t.reference(label, t.call("compute_loss", y_hat, y), hints=loss_hints(*shape))


# --- backward ----------------------------------------------------------------------------------
def gradient_hints(n: int):
    return [("the gradient is averaged over samples (mean) instead of summed", lambda e: e / n)]


@check(NB, "backward", "gradient_check", "gradients agree with central finite differences of L, one and two outputs")
def backward_gradient_check(t):
    for label, X, y, params in problems(t):
        cache = network.forward(X, params)
        numerical = network.numerical_gradient(X, y, params)
        with t.case(label):
            grads = t.call("backward", X, y, params, cache)
            if t.require(f"{label}: returns a dict of gradients", isinstance(grads, dict),
                         "must return a dict W1, b1, W2, b2"):
                t.expect(label, {key: grads.get(key) for key in network.PARAMS}, numerical,
                         hints=gradient_hints(X.shape[0]))


@check(NB, "backward", "values", "gradients on XOR match the reference")
def backward_values(t):
    params = random_params(t, 2, 4, 1, scale=0.5)
    cache = network.forward(XOR_X, params)
    grads = t.call("backward", XOR_X, XOR_Y, params, cache)
    t.reference("XOR data", grads, hints=gradient_hints(XOR_X.shape[0]))


# --- update ------------------------------------------------------------------------------------
def update_data(t):
    out = []
    for label, _, _, params in problems(t):
        grads = {k: spread(t.rng, v.shape, 1.0) for k, v in params.items()}
        out.append((label, params, grads, float(t.rng.uniform(0.05, 1.0))))
    return out


@check(NB, "update", "values", "theta - learning_rate * grad for every parameter")
def update_values(t):
    for label, params, grads, lr in update_data(t):
        with t.case(label):
            new = t.call("update", params, grads, lr)
            if not t.require(f"{label}: returns a dict", isinstance(new, dict),
                             "must return a new dict of parameters"):
                continue
            for key in network.PARAMS:
                t.reference(f"{label}: {key}", new.get(key), hints=[
                    ("the update adds the gradient (gradient ascent)", lambda e, p=params[key]: 2 * p - e),
                ])


@check(NB, "update", "inputs_unchanged", "does not modify the parameters or gradients passed in")
def update_inputs_unchanged(t):
    label, params, grads, lr = update_data(t)[1]
    _, after, _ = t.call_echo("update", params, grads, lr)
    names = ("params", "grads", "learning_rate")
    t.unchanged("arguments after the call", dict(zip(names, (params, grads, lr))), dict(zip(names, after)))


# --- train -------------------------------------------------------------------------------------
def own_trajectory(t, X, y, params, lr, epochs):
    """The trajectory that the student's own forward, compute_loss, backward and update give."""
    losses = []
    for _ in range(epochs):
        out = t.call("forward", X, params)
        if not pair(out):
            raise StudentFailure("forward does not return (A2, cache)")
        losses.append(t.call("compute_loss", out[0], y))
        grads = t.call("backward", X, y, params, out[1])
        params = t.call("update", params, grads, lr)
    return params, numbers(losses)


@check(NB, "train", "trajectory", "a short training run from a given start matches the reference, one and two outputs")
def train_trajectory(t):
    for label, X, y, params in problems(t):
        lr, epochs = float(t.rng.uniform(0.1, 1.0)), 4
        with t.case(label):
            out = t.call("train", X, y, params, learning_rate=lr, epochs=epochs)
            if not t.require(f"{label}: returns (params, losses)", pair(out),
                             "must return a tuple (params, losses)"):
                continue
            mine = {}

            def own(X=X, y=y, params=params, lr=lr):
                if not mine:
                    mine["params"], mine["losses"] = own_trajectory(t, X, y, params, lr, epochs)
                return mine

            losses = np.asarray(out[1]) if isinstance(out[1], (list, tuple, np.ndarray)) else out[1]
            t.reference(f"{label}: losses", losses,
                        alternative=lambda: ("your own forward, compute_loss, backward and update",
                                             own()["losses"]))
            t.reference(f"{label}: final parameters", out[0],
                        alternative=lambda: ("your own forward, backward and update", own()["params"]))


# --- predict -----------------------------------------------------------------------------------
@check(NB, "predict", "values", "0/1 integer predictions (n, k), 1 where A2 >= 0.5, one and two outputs")
def predict_values(t):
    for label, X, _, params in problems(t):
        def own(X=X, params=params):
            out = t.call("forward", X, params)
            if not pair(out) or numbers(out[0]) is None:
                raise StudentFailure("forward does not return (A2, cache)")
            return "thresholding your own forward at 0.5", (numbers(out[0]) >= 0.5).astype(int)

        with t.case(f"random network, {label}"):
            t.reference(f"random network, {label}", t.call("predict", X, params), integer=True,
                        alternative=own)
        flat = {**params, "W2": np.zeros_like(params["W2"]), "b2": np.zeros_like(params["b2"])}
        with t.case(f"output exactly 0.5, {label}"):
            t.reference(f"output exactly 0.5, {label}", t.call("predict", X, flat), integer=True,
                        hints=[STRICT])
