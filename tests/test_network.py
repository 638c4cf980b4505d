"""grader.network: the grader's own maths, checked against an independent autograd-free derivation."""
import numpy as np

from grader import network


def analytic_gradient(X, y, p):
    c = network.forward(X, p)
    dZ2 = (c["A2"] - y) * c["A2"] * (1 - c["A2"])
    dZ1 = (dZ2 @ p["W2"].T) * c["A1"] * (1 - c["A1"])
    return {"W1": X.T @ dZ1, "b1": dZ1.sum(0, keepdims=True), "W2": c["A1"].T @ dZ2,
            "b2": dZ2.sum(0, keepdims=True)}


def test_finite_differences_agree_with_backprop():
    rng = np.random.default_rng(7)
    X, y = rng.normal(size=(6, 3)), rng.integers(0, 2, size=(6, 2)).astype(float)
    p = {"W1": rng.normal(size=(3, 5)), "b1": rng.normal(size=(1, 5)),
         "W2": rng.normal(size=(5, 2)), "b2": rng.normal(size=(1, 2))}
    num, ana = network.numerical_gradient(X, y, p), analytic_gradient(X, y, p)
    for key in network.PARAMS:
        np.testing.assert_allclose(num[key], ana[key], rtol=1e-6, atol=1e-9)


def test_sigmoid_is_stable():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = network.sigmoid(np.array([-1e308, -1000.0, 0.0, 1000.0, 1e308]))
    np.testing.assert_array_equal(s, [0.0, 0.0, 0.5, 1.0, 1.0])
