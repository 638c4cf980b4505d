"""Checks of 03_activations: tanh, relu, leaky_relu and the derivatives w.r.t. z.

Every function is checked on arrays (`values`) and on scalars (`scalars`) separately, so a
function right on one and wrong on the other keeps the points of what works; the functions
the contract calls finite are probed with float64 extremes (`stable`); alpha is probed
below and above 1 in every variant.
"""
from __future__ import annotations

import numpy as np

from . import check, numbers
from .perceptron import array_inputs, scalar_inputs, stable_check, values_check

NB = "03_activations"
BIG = 1e300       # relu-like functions pass large values through (the visible test tries 1e300)


def with_kinks(inputs, big: bool = False):
    """Probes with exact zeros planted in the arrays (where the kink of ReLU is), the same
    places in every variant, and for `big` a huge value of each sign in the rank-3 array."""
    def probes(t):
        out = []
        for label, z in inputs(t):
            if isinstance(z, np.ndarray) and z.ndim:
                z = z.copy()
                z.flat[1:: 3] = 0.0
                if big and z.ndim == 3:
                    z.flat[0], z.flat[2] = BIG * np.sign(z.flat[0]), -BIG * np.sign(z.flat[0])
            out.append((label, z))
        return out
    return probes


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


def alpha_check(function: str, hints_for):
    """`function(z, alpha=...)` for an alpha below 1 and one above 1, on an array and a scalar."""
    def run(t):
        r = t.rng
        alphas = [("alpha < 1", float(r.uniform(0.05, 0.5))), ("alpha > 1", float(r.uniform(1.5, 5.0)))]
        for which, alpha in alphas:
            z = with_kinks(array_inputs)(t)[1][1]
            for label, value in [(f"{which}, a rank-2 array", z),
                                 (f"{which}, a negative Python float", -float(r.uniform(0.3, 4.0)))]:
                with t.case(label):
                    t.reference(label, t.call(function, value, alpha=alpha), hints=hints_for(value, alpha))
    return run


def maximum_hint(z, alpha):
    hints = alpha_ignored(lambda z: np.where(z > 0, z, 0.01 * z))(z, alpha)
    if alpha > 1:
        zf = np.asarray(z, dtype=float)
        hints.append(("np.maximum(z, alpha * z) is leaky ReLU only for alpha <= 1",
                      lambda e, zf=zf: np.maximum(zf, alpha * zf)))
    return hints


def both(function: str, title: str, kink: bool = False, big: bool = False, hints=lambda z, **kw: []):
    """The `values` (arrays) and `scalars` checks of `function`."""
    arrays = with_kinks(array_inputs, big) if kink else array_inputs
    scalars = with_kinks(scalar_inputs) if kink else scalar_inputs
    check(NB, function, "values", f"{title} on arrays of rank 1 to 3")(values_check(function, arrays, hints))
    check(NB, function, "scalars", f"{title} on a Python float, a numpy float64 and a 0-d array "
                                   "(a float64 scalar back)")(values_check(function, scalars, hints))


both("tanh", "matches the reference")
both("relu", "max(0, z)", kink=True, big=True)
both("leaky_relu", "default alpha=0.01", kink=True, big=True)
both("sigmoid_derivative", "s(z)(1 - s(z)) with respect to z",
     hints=output_derivative_hint("x*(1-x)", lambda z: z * (1 - z)))
both("tanh_derivative", "1 - tanh(z)^2 with respect to z",
     hints=output_derivative_hint("1-x^2", lambda z: 1 - z ** 2))
both("relu_derivative", "1.0 where z > 0, else 0.0 (0.0 at zero)", kink=True, big=True,
     hints=lambda z, **kw: [("the slope at z = 0 is taken as 1 (>= 0 instead of > 0)",
                             lambda e, z=np.asarray(z, dtype=float): np.where(z >= 0, 1.0, 0.0))])
both("leaky_relu_derivative", "1.0 where z > 0, else alpha=0.01", kink=True, big=True)

check(NB, "leaky_relu", "alpha", "honours another alpha, below and above 1")(alpha_check("leaky_relu", maximum_hint))
check(NB, "leaky_relu_derivative", "alpha", "honours another alpha, below and above 1")(
    alpha_check("leaky_relu_derivative", alpha_ignored(lambda z: np.where(z > 0, 1.0, 0.01))))


@check(NB, "tanh", "odd", "tanh is odd: tanh(-z) = -tanh(z)")
def tanh_odd(t):
    from .perceptron import spread
    z = spread(t.rng, (30,), 1.0, bands=(0.0, 1.0, 3.0, 10.0))
    a, b = t.call("tanh", z), t.call("tanh", -z)
    if t.expect("shape of tanh(z)", np.shape(a), z.shape, dtype=None) and numbers(a) is not None:
        t.expect("tanh(-z) against -tanh(z)", b, -numbers(a))


check(NB, "tanh", "stable", "finite and warning-free for large |z|")(stable_check("tanh"))
check(NB, "sigmoid_derivative", "stable", "finite and warning-free for large |z|")(
    stable_check("sigmoid_derivative"))
check(NB, "tanh_derivative", "stable", "finite and warning-free for large |z|")(stable_check("tanh_derivative"))
