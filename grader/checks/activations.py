"""Checks of 03_activations: tanh, relu, leaky_relu and the derivatives w.r.t. z."""
from __future__ import annotations

import numpy as np

from . import check
from .perceptron import extreme_inputs, shaped_inputs

NB = "03_activations"


def with_zeros(t):
    """Shaped probes, with exact zeros planted where the kink of ReLU is."""
    probes = []
    for label, z in shaped_inputs(t):
        if isinstance(z, np.ndarray) and z.ndim:
            z = z.copy()
            z.flat[:: max(1, z.size // 3)] = 0.0
        probes.append((label, z))
    probes.append(("exactly zero", 0.0))
    return probes


def values_check(function: str, hints=lambda z, **kw: [], kwargs=lambda t: {}):
    """The check body: `function` on every shaped probe must match the reference."""
    def run(t):
        extra = kwargs(t)
        for label, z in with_zeros(t):
            t.reference(label, t.call(function, z, **extra), hints=hints(z, **extra))
    return run


def alpha_ignored(of_z):
    """The default alpha used whatever alpha was passed."""
    def hints(z, alpha=0.01):
        z = np.asarray(z, dtype=float)
        return [("alpha is ignored: the default 0.01 is used whatever alpha is passed",
                 lambda e, z=z: of_z(z))]
    return hints


def output_derivative_hint(name: str, of_output):
    """The lesson's shortcut applied to z instead of to the activation's output."""
    def hints(z, **kwargs):
        z = np.asarray(z, dtype=float)
        return [(f"the derivative is taken of the output: {name} applied to z "
                 "(pass the pre-activation z and compute the activation inside)",
                 lambda e, z=z: of_output(z))]
    return hints


def random_alpha(t):
    return {"alpha": float(t.rng.uniform(0.05, 0.5))}


check(NB, "tanh", "values", "matches the reference on scalars and arrays of rank 0 to 3")(values_check("tanh"))
check(NB, "relu", "values", "max(0, z) on scalars and arrays, zero included")(values_check("relu"))
check(NB, "leaky_relu", "values", "default alpha=0.01 on scalars and arrays")(values_check("leaky_relu"))
check(NB, "leaky_relu", "alpha", "honours another alpha")(values_check(
    "leaky_relu", kwargs=random_alpha, hints=alpha_ignored(lambda z: np.where(z > 0, z, 0.01 * z))))
check(NB, "sigmoid_derivative", "values", "s(z)(1 - s(z)) with respect to z")(
    values_check("sigmoid_derivative", hints=output_derivative_hint("x*(1-x)", lambda z: z * (1 - z))))
check(NB, "tanh_derivative", "values", "1 - tanh(z)^2 with respect to z")(
    values_check("tanh_derivative", hints=output_derivative_hint("1-x^2", lambda z: 1 - z ** 2)))
check(NB, "relu_derivative", "values", "1.0 where z > 0, else 0.0 (0.0 at zero)")(values_check("relu_derivative"))
check(NB, "leaky_relu_derivative", "values", "1.0 where z > 0, else alpha=0.01")(
    values_check("leaky_relu_derivative"))
check(NB, "leaky_relu_derivative", "alpha", "honours another alpha")(
    values_check("leaky_relu_derivative", kwargs=random_alpha,
                 hints=alpha_ignored(lambda z: np.where(z > 0, 1.0, 0.01))))


@check(NB, "tanh", "odd", "tanh is odd: tanh(-z) = -tanh(z)")
def tanh_odd(t):
    z = t.rng.normal(size=30) * 3
    a, b = t.call("tanh", z), t.call("tanh", -z)
    if t.expect("shape of tanh(z)", np.shape(a), z.shape):
        t.expect("tanh(-z) against -tanh(z)", b, -np.asarray(a, dtype=float))


def stable_check(function: str):
    def run(t):
        value = t.call(function, extreme_inputs(t))
        t.no_warnings("no overflow warning")
        t.finite("finite for extreme inputs", value)
        t.reference("extreme inputs", value)
    return run


check(NB, "tanh", "stable", "finite and warning-free for large |z|")(stable_check("tanh"))
check(NB, "sigmoid_derivative", "stable", "finite and warning-free for large |z|")(
    stable_check("sigmoid_derivative"))

