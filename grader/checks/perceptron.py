"""Checks of 01_perceptron: sigmoid, neuron_output, perceptron_step, train_perceptron, predict.

Every variant of a check has the same cases (the same ranks and shapes, the same signs,
magnitude bands and planted zeros in the same places, one and several outputs, alpha below
and above 1, the same extremes); only the random numbers differ, so a submission earns
the same points under every student id (tests/test_fairness.py).
"""
from __future__ import annotations

import numpy as np

from . import StudentFailure, check, numbers

NB = "01_perceptron"
GATE_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
GATES = {"OR": np.array([0.0, 1.0, 1.0, 1.0]), "NAND": np.array([1.0, 1.0, 1.0, 0.0])}
BANDS = (0.05, 0.9, 2.5, 8.0)       # magnitude bands, used in turn by position


def spread(r: np.random.Generator, shape, first_sign: float = 1.0, bands=BANDS) -> np.ndarray:
    """Random values laid out the same way in every variant: the sign alternates from
    `first_sign`, the magnitude band changes every two positions."""
    size = int(np.prod(shape, dtype=int))
    i = np.arange(size)
    sign = first_sign * np.where(i % 2 == 0, 1.0, -1.0)
    band = (i // 2) % (len(bands) - 1)
    low, high = np.asarray(bands[:-1])[band], np.asarray(bands[1:])[band]
    return (sign * r.uniform(low, high)).reshape(shape)


def scalar_inputs(t):
    """(label, z) probes of every scalar kind the contract names, both signs and zero.
    Magnitudes stay where no activation saturates (0.3 to 2), so that an error near the
    tolerance (a rounded input, say) shows on every variant, not only on some."""
    r = t.rng
    return [
        ("a positive Python float", float(r.uniform(0.3, 2.0))),
        ("a numpy float64", np.float64(-r.uniform(0.3, 2.0))),
        ("a 0-d array", np.asarray(r.uniform(0.3, 2.0))),
        ("exactly zero", 0.0),
    ]


def array_inputs(t):
    """(label, z) probes: arrays of rank 1 to 3, negative first in one, positive in the others."""
    r = t.rng
    return [
        ("a rank-1 array", spread(r, (7,), -1.0)),
        ("a rank-2 array", spread(r, (3, 4), 1.0)),
        ("a rank-3 array", spread(r, (2, 3, 2), 1.0)),
    ]


def extreme_inputs(t):
    """Float64 extremes where a naive exp overflows, in a random order, plus random large values."""
    fixed = [-1e308, -1e4, -1000.0, -745.2, -709.8, -400.0, 400.0, 709.8, 745.2, 1000.0, 1e4, 1e308, 0.0]
    sample = t.rng.uniform(50.0, 1e5, size=6) * np.array([1.0, -1.0] * 3)
    z = np.concatenate([fixed, sample])
    return z[t.rng.permutation(z.size)]


def values_check(function: str, inputs, hints=lambda z, **kw: [], kwargs=lambda t: {}):
    """The check body: `function` on every probe of `inputs(t)` must match the reference."""
    def run(t):
        extra = kwargs(t)
        for label, z in inputs(t):
            with t.case(label):
                t.reference(label, t.call(function, z, **extra), hints=hints(z, **extra))
    return run


def stable_check(function: str):
    """Finite, warning-free and right on float64 extremes."""
    def run(t):
        value = t.call(function, extreme_inputs(t))
        t.no_warnings("no overflow warning")
        t.finite("finite for extreme inputs", value)
        t.reference("extreme inputs", value)
    return run


# --- sigmoid ----------------------------------------------------------------------------
check(NB, "sigmoid", "values", "matches the reference on arrays of rank 1 to 3")(
    values_check("sigmoid", array_inputs))
check(NB, "sigmoid", "scalars", "a Python float, a numpy float64 or a 0-d array gives a float64 scalar")(
    values_check("sigmoid", scalar_inputs))
check(NB, "sigmoid", "stable", "finite, warning-free and right for large |z|")(stable_check("sigmoid"))


@check(NB, "sigmoid", "symmetry", "sigmoid(-z) = 1 - sigmoid(z)")
def sigmoid_symmetry(t):
    z = spread(t.rng, (40,), 1.0, bands=(0.0, 1.0, 3.0, 10.0, 30.0))
    s = t.call("sigmoid", z)
    s_neg = t.call("sigmoid", -z)
    if t.expect("shape of sigmoid(z)", np.shape(s), z.shape, dtype=None) and numbers(s) is not None:
        t.expect("sigmoid(-z) against 1 - sigmoid(z)", s_neg, 1.0 - numbers(s))


# --- neuron_output ------------------------------------------------------------------------
def neuron_data(t, n: int, d: int):
    r = t.rng
    return spread(r, (n, d), 1.0), spread(r, (d,), -1.0), float(r.normal())


@check(NB, "neuron_output", "values", "matches the reference for random X, weights and bias")
def neuron_output_values(t):
    for label, (n, d) in [("n=7, d=3", (7, 3)), ("n=5, d=2", (5, 2))]:
        X, w, b = neuron_data(t, n, d)
        with t.case(label):
            t.reference(label, t.call("neuron_output", X, w, b), hints=[
                ("the bias is subtracted instead of added",
                 lambda e, X=X, w=w, b=b: 1 / (1 + np.exp(-(X @ w - b)))),
            ])


@check(NB, "neuron_output", "one_sample", "returns shape (1,) for a single sample")
def neuron_output_one_sample(t):
    X, w, b = neuron_data(t, 1, 3)
    t.reference("n=1, d=3", t.call("neuron_output", X, w, b))


# --- perceptron_step ------------------------------------------------------------------------
def step_data(t, n: int = 7, d: int = 3):
    """X (n, d), y with both classes, weights, bias, learning rate: the same layout in every variant."""
    r = t.rng
    X = spread(r, (n, d), 1.0)
    y = r.permutation(np.arange(n) % 2).astype(float)
    return X, y, spread(r, (d,), -1.0), float(r.normal()), float(r.uniform(0.1, 1.0))


def step_hints(w, b, n):
    """Mistakes in a gradient step, as functions of the expected new weights."""
    return [
        ("gradient ascent: the step goes uphill (sign of the update)", lambda e: 2 * w - e),
        ("the gradient is averaged over samples (mean) instead of summed",
         lambda e: w + (e - w) / n),
    ]


@check(NB, "perceptron_step", "values", "one gradient-descent step matches the reference")
def perceptron_step_values(t):
    X, y, w, b, lr = step_data(t)
    out = t.call("perceptron_step", X, y, w, b, lr)
    if not t.require("returns (new_weights, new_bias)", isinstance(out, (tuple, list)) and len(out) == 2,
                     "must return a tuple (new_weights, new_bias)"):
        return
    mine = {}

    def own(index):
        if not mine:
            mine["step"] = own_step(t, X, y, w, b, lr)
        return "one step from your own neuron_output", mine["step"][index]

    t.reference("new weights", out[0], hints=step_hints(w, b, X.shape[0]), alternative=lambda: own(0))
    t.reference("new bias", out[1], hints=[("gradient ascent: the step goes uphill", lambda e: 2 * b - e)],
                alternative=lambda: own(1))


def own_step(t, X, y, w, b, lr):
    """The step of L = 1/2 sum (s - y)^2 computed from the student's own neuron_output."""
    out = numbers(t.call("neuron_output", X, w, b))
    if out is None or out.shape != y.shape:
        raise StudentFailure("neuron_output does not give numbers of shape (n,)")
    delta = (out - y) * out * (1.0 - out)
    return w - lr * (X.T @ delta), b - lr * float(np.sum(delta))


@check(NB, "perceptron_step", "inputs_unchanged", "does not modify its inputs")
def perceptron_step_inputs_unchanged(t):
    X, y, w, b, lr = step_data(t)
    _, after, _ = t.call_echo("perceptron_step", X, y, w, b, lr)
    names = ("X", "y", "weights", "bias", "learning_rate")
    t.unchanged("arguments after the call", dict(zip(names, (X, y, w, b, lr))), dict(zip(names, after)))


# --- train_perceptron ----------------------------------------------------------------------
def own_perceptron_trajectory(t, X, y, w, b, lr, epochs):
    """The trajectory the student's own perceptron_step and neuron_output give, step by step."""
    losses = []
    for _ in range(epochs):
        out = numbers(t.call("neuron_output", X, w, b))
        if out is None or out.shape != y.shape:
            raise StudentFailure("neuron_output does not give numbers of shape (n,)")
        losses.append(0.5 * float(np.sum((out - y) ** 2)))
        step = t.call("perceptron_step", X, y, w, b, lr)
        if not (isinstance(step, (tuple, list)) and len(step) == 2) or numbers(step[0]) is None:
            raise StudentFailure("perceptron_step does not return (new_weights, new_bias)")
        w, b = numbers(step[0]), step[1]
    return w, b, np.asarray(losses)


def check_trajectory(t, label, X, y, w, b, lr, epochs):
    with t.case(f"{label}: train_perceptron"):
        out = t.call("train_perceptron", X, y, w, b, learning_rate=lr, epochs=epochs)
        if not t.require(f"{label}: returns (weights, bias, losses)",
                         isinstance(out, (tuple, list)) and len(out) == 3,
                         "must return a tuple (weights, bias, losses)"):
            return
        losses = np.asarray(out[2]) if isinstance(out[2], (list, tuple, np.ndarray)) else out[2]
        mine = {}

        def own():
            if not mine:
                mine["w"], mine["b"], mine["losses"] = own_perceptron_trajectory(t, X, y, w, b, lr, epochs)
            return mine

        t.reference(f"{label}: losses", losses,
                    alternative=lambda: ("your own neuron_output and perceptron_step", own()["losses"]))
        t.reference(f"{label}: final weights", out[0],
                    alternative=lambda: ("your own perceptron_step", own()["w"]))
        t.reference(f"{label}: final bias", out[1],
                    alternative=lambda: ("your own perceptron_step", own()["b"]))


@check(NB, "train_perceptron", "trajectory", "a short training run from a given start matches the reference")
def train_perceptron_trajectory(t):
    X, y, w, b, lr = step_data(t)
    check_trajectory(t, "random data", X, y, w, b, lr, 5)


@check(NB, "train_perceptron", "gates", "learns relabelled gates (OR, NAND) from a given start")
def train_perceptron_gates(t):
    for gate, y in GATES.items():
        w = spread(t.rng, (2,), 1.0, bands=(0.05, 0.8)) * 0.5
        check_trajectory(t, gate, GATE_X, y, w, 0.0, 0.5, 12)


# --- predict -------------------------------------------------------------------------------
def own_predict(t, X, w, b):
    out = numbers(t.call("neuron_output", X, w, b))
    if out is None:
        raise StudentFailure("neuron_output does not give numbers")
    return "thresholding your own neuron_output at 0.5", (out >= 0.5).astype(int)


STRICT = ("uses > 0.5 instead of >= 0.5", lambda e: np.zeros_like(e))


@check(NB, "predict", "values", "0/1 integer predictions for random data, 1 where the output is >= 0.5")
def predict_values(t):
    X, _, w, b, _ = step_data(t)
    with t.case("random data"):
        t.reference("random data", t.call("predict", X, w, b), integer=True,
                    alternative=lambda: own_predict(t, X, w, b))
    zero = np.zeros(X.shape[1])
    with t.case("output exactly 0.5"):
        t.reference("output exactly 0.5", t.call("predict", X, zero, 0.0), integer=True, hints=[STRICT])


@check(NB, "predict", "gates", "predicts OR and NAND from weights that implement them")
def predict_gates(t):
    k = float(t.rng.uniform(1.0, 5.0))
    weights = {"OR": (np.array([2.0, 2.0]) * k, -1.0 * k), "NAND": (np.array([-2.0, -2.0]) * k, 3.0 * k)}
    for gate, (w, b) in weights.items():
        with t.case(gate):
            t.reference(gate, t.call("predict", GATE_X, w, b), integer=True,
                        hints=[("the 0/1 labels are swapped", lambda e: 1 - e)],
                        alternative=lambda w=w, b=b: own_predict(t, GATE_X, w, b))
