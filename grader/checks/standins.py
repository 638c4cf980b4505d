"""The grader's own versions of the graded functions, put in place of a student's broken
helper while a later function of the same notebook is graded (checks.grade_notebook).

Each notebook's source is run by the sandbox child in a namespace of its own (numpy as
`np`, nothing of the student's), so one stand-in calls the others, never the student's
code. Only the names a check asks for are then swapped into the student's namespace,
for the duration of one call. This is the contract's maths written for the grader, not
the solution notebooks, and it carries no reference value.
"""
from __future__ import annotations

import ast
from functools import lru_cache

SOURCES = {
    "01_perceptron": '''
def sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=np.float64)))

def neuron_output(X, weights, bias):
    return sigmoid(np.asarray(X, dtype=np.float64) @ np.asarray(weights, dtype=np.float64) + bias)

def perceptron_step(X, y, weights, bias, learning_rate):
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    out = neuron_output(X, weights, bias)
    delta = (out - y) * out * (1.0 - out)
    return (np.asarray(weights, dtype=np.float64) - learning_rate * (X.T @ delta),
            float(bias - learning_rate * np.sum(delta)))

def train_perceptron(X, y, weights, bias, learning_rate=0.5, epochs=1000):
    weights, bias = np.array(weights, dtype=np.float64), float(bias)
    losses = np.empty(epochs)
    for i in range(epochs):
        losses[i] = 0.5 * np.sum((neuron_output(X, weights, bias) - np.asarray(y, dtype=np.float64)) ** 2)
        weights, bias = perceptron_step(X, y, weights, bias, learning_rate)
    return weights, bias, losses
''',
    "02_xor_network": '''
def _sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=np.float64)))

def init_network(n_inputs=2, n_hidden=4, n_outputs=1, seed=42):
    rng = np.random.default_rng(seed)
    W1 = rng.standard_normal((n_inputs, n_hidden)) * 0.5
    W2 = rng.standard_normal((n_hidden, n_outputs)) * 0.5
    return {"W1": W1, "b1": np.zeros((1, n_hidden)), "W2": W2, "b2": np.zeros((1, n_outputs))}

def forward(X, params):
    Z1 = np.asarray(X, dtype=np.float64) @ params["W1"] + params["b1"]
    A1 = _sigmoid(Z1)
    Z2 = A1 @ params["W2"] + params["b2"]
    A2 = _sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}

def compute_loss(y_hat, y):
    return float(0.5 * np.sum((np.asarray(y_hat, dtype=np.float64) - np.asarray(y, dtype=np.float64)) ** 2))

def backward(X, y, params, cache):
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = (A2 - y) * A2 * (1.0 - A2)
    dZ1 = (dZ2 @ params["W2"].T) * A1 * (1.0 - A1)
    return {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0, keepdims=True),
            "W2": A1.T @ dZ2, "b2": dZ2.sum(axis=0, keepdims=True)}

def update(params, grads, learning_rate):
    return {key: params[key] - learning_rate * grads[key] for key in params}

def train(X, y, params, learning_rate=0.5, epochs=10000):
    params = {key: np.array(value, dtype=np.float64) for key, value in params.items()}
    losses = np.empty(epochs)
    for i in range(epochs):
        y_hat, cache = forward(X, params)
        losses[i] = compute_loss(y_hat, y)
        params = update(params, backward(X, y, params, cache), learning_rate)
    return params, losses
''',
    "03_activations": '''
def tanh(z):
    return np.tanh(np.asarray(z, dtype=np.float64))

def relu(z):
    return np.maximum(np.asarray(z, dtype=np.float64), 0.0)

def leaky_relu(z, alpha=0.01):
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, z, alpha * np.minimum(z, 0.0))

def sigmoid_derivative(z):
    s = np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=np.float64)))
    return s * (1.0 - s)

def tanh_derivative(z):
    t = np.tanh(np.asarray(z, dtype=np.float64))
    return (1.0 - t) * (1.0 + t)

def relu_derivative(z):
    return np.where(np.asarray(z) > 0, 1.0, 0.0)
''',
}


def standin_source(notebook: str) -> str:
    return SOURCES.get(notebook, "")


@lru_cache(maxsize=None)
def standin_names(notebook: str) -> frozenset:
    """The public functions the stand-in source of `notebook` defines."""
    tree = ast.parse(standin_source(notebook))
    return frozenset(node.name for node in tree.body
                     if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"))
