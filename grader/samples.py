"""The sample class (samples/, what `make demo` grades) and the banks of planted bugs,
fair alternatives and hostile payloads that the tests and the benchmark build submissions from.

A submission is built from the release notebooks (what a student starts from) with the
answer cells filled in: with the solution key's code, left blank, or with a planted bug
or a hostile payload from the banks below. `root` is the course folder (source/ and
release/); it defaults to the checkout this package lies in.
"""
from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent     # the checkout: source/, release/
ASSIGNMENT = "nn_intro"
NOTEBOOKS = ("01_perceptron", "02_xor_network", "03_activations")

# name -> (notebook, function, answer cell code). Each bug breaks only its own function.
BUGS: dict[str, tuple[str, str, str]] = {
    "sigmoid_naive": ("01_perceptron", "sigmoid", """
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))
"""),
    "sigmoid_shape": ("01_perceptron", "sigmoid", """
def sigmoid(z):
    z = np.atleast_1d(np.asarray(z, dtype=float))
    return np.exp(-np.logaddexp(0.0, -z))
"""),
    "neuron_output_minus_bias": ("01_perceptron", "neuron_output", """
def neuron_output(X, weights, bias):
    return sigmoid(X @ weights - bias)
"""),
    "perceptron_step_mean": ("01_perceptron", "perceptron_step", """
def perceptron_step(X, y, weights, bias, learning_rate):
    out = neuron_output(X, weights, bias)
    delta = (out - y) * out * (1 - out)
    return weights - learning_rate * X.T @ delta / len(y), bias - learning_rate * np.mean(delta)
"""),
    "perceptron_step_in_place": ("01_perceptron", "perceptron_step", """
def perceptron_step(X, y, weights, bias, learning_rate):
    out = neuron_output(X, weights, bias)
    delta = (out - y) * out * (1 - out)
    weights -= learning_rate * X.T @ delta
    return weights, bias - learning_rate * np.sum(delta)
"""),
    "train_perceptron_loss_after_step": ("01_perceptron", "train_perceptron", """
def train_perceptron(X, y, weights, bias, learning_rate=0.5, epochs=1000):
    losses = []
    for _ in range(epochs):
        weights, bias = perceptron_step(X, y, weights, bias, learning_rate)
        losses.append(0.5 * np.sum((neuron_output(X, weights, bias) - y) ** 2))
    return weights, bias, np.array(losses)
"""),
    "predict_strict": ("01_perceptron", "predict", """
def predict(X, weights, bias):
    return (neuron_output(X, weights, bias) > 0.5).astype(int)
"""),
    "init_network_legacy_seed": ("02_xor_network", "init_network", """
def init_network(n_inputs=2, n_hidden=4, n_outputs=1, seed=42):
    np.random.seed(seed)
    return {"W1": np.random.randn(n_inputs, n_hidden) * 0.5, "b1": np.zeros((1, n_hidden)),
            "W2": np.random.randn(n_hidden, n_outputs) * 0.5, "b2": np.zeros((1, n_outputs))}
"""),
    "forward_no_hidden_bias": ("02_xor_network", "forward", """
def forward(X, params):
    Z1 = X @ params["W1"]
    A1 = sigmoid(Z1)
    Z2 = A1 @ params["W2"] + params["b2"]
    A2 = sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}
"""),
    "compute_loss_mean": ("02_xor_network", "compute_loss", """
def compute_loss(y_hat, y):
    return 0.5 * np.mean((y_hat - y) ** 2)
"""),
    "backward_output_derivative_missing": ("02_xor_network", "backward", """
def backward(X, y, params, cache):
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = A2 - y
    dW2 = A1.T @ dZ2
    db2 = dZ2.sum(axis=0, keepdims=True)
    dZ1 = (dZ2 @ params["W2"].T) * A1 * (1 - A1)
    return {"W1": X.T @ dZ1, "b1": dZ1.sum(axis=0, keepdims=True), "W2": dW2, "b2": db2}
"""),
    "update_in_place": ("02_xor_network", "update", """
def update(params, grads, learning_rate):
    for key in params:
        params[key] -= learning_rate * grads[key]
    return dict(params)
"""),
    "train_ignores_learning_rate": ("02_xor_network", "train", """
def train(X, y, params, learning_rate=0.5, epochs=10000):
    losses = []
    for _ in range(epochs):
        y_hat, cache = forward(X, params)
        losses.append(compute_loss(y_hat, y))
        params = update(params, backward(X, y, params, cache), 0.5)
    return params, np.array(losses)
"""),
    "xor_predict_strict": ("02_xor_network", "predict", """
def predict(X, params):
    return (forward(X, params)[0] > 0.5).astype(int)
"""),
    "tanh_naive": ("03_activations", "tanh", """
def tanh(z):
    z = np.asarray(z, dtype=float)
    return (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))
"""),
    "relu_abs": ("03_activations", "relu", """
def relu(z):
    return np.abs(z)
"""),
    "leaky_relu_fixed_alpha": ("03_activations", "leaky_relu", """
def leaky_relu(z, alpha=0.01):
    return np.where(np.asarray(z) > 0, z, 0.01 * np.asarray(z))
"""),
    "sigmoid_derivative_of_output": ("03_activations", "sigmoid_derivative", """
def sigmoid_derivative(z):
    return z * (1 - z)
"""),
    "tanh_derivative_of_output": ("03_activations", "tanh_derivative", """
def tanh_derivative(z):
    return 1 - np.asarray(z, dtype=float) ** 2
"""),
    "relu_derivative_one_at_zero": ("03_activations", "relu_derivative", """
def relu_derivative(z):
    return (np.asarray(z) >= 0).astype(float)
"""),
    "leaky_relu_derivative_fixed_alpha": ("03_activations", "leaky_relu_derivative", """
def leaky_relu_derivative(z, alpha=0.01):
    return np.where(np.asarray(z) > 0, 1.0, 0.01)
"""),
}

# More planted bugs, from the forms real students' code takes (issue 11). Kept apart from
# BUGS so that the suites that grade every BUGS entry keep their size. Each costs points on
# its own function only; EXPECT says how many and what the feedback's first line names.
FAIR_BUGS: dict[str, tuple[str, str, str]] = {
    "sigmoid_object_dtype": ("01_perceptron", "sigmoid", """
import math
def _one(v):
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))
def sigmoid(z):
    return np.frompyfunc(_one, 1, 1)(z)
"""),
    "sigmoid_scipy_in_function": ("01_perceptron", "sigmoid", """
def sigmoid(z):
    from scipy.special import expit
    return expit(z)
"""),
    "sigmoid_scipy_in_cell": ("01_perceptron", "sigmoid", """
from scipy.special import expit
def sigmoid(z):
    return expit(z)
"""),
    "predict_bool_strict": ("01_perceptron", "predict", """
def predict(X, weights, bias):
    return neuron_output(X, weights, bias) > 0.5
"""),
    "forward_single_output": ("02_xor_network", "forward", """
def forward(X, params):
    Z1 = X @ params["W1"] + params["b1"]
    A1 = sigmoid(Z1)
    Z2 = A1 @ params["W2"] + params["b2"]
    A2 = sigmoid(Z2)
    assert A2.shape[1] == 1, "one output only"
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}
"""),
    "forward_first_output_only": ("02_xor_network", "forward", """
def forward(X, params):
    Z1 = X @ params["W1"] + params["b1"]
    A1 = sigmoid(Z1)
    Z2 = (A1 @ params["W2"][:, :1] + params["b2"][:, :1])
    A2 = sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}
"""),
    "compute_loss_mse": ("02_xor_network", "compute_loss", """
def compute_loss(y_hat, y):
    return np.mean((y_hat - y) ** 2)
"""),
    "compute_loss_no_half": ("02_xor_network", "compute_loss", """
def compute_loss(y_hat, y):
    return float(np.sum((y_hat - y) ** 2))
"""),
    "compute_loss_mean_over_samples": ("02_xor_network", "compute_loss", """
def compute_loss(y_hat, y):
    return 0.5 * np.sum((y_hat - y) ** 2) / len(y)
"""),
    "xor_predict_bool_strict": ("02_xor_network", "predict", """
def predict(X, params):
    return forward(X, params)[0] > 0.5
"""),
    "tanh_warns": ("03_activations", "tanh", """
def tanh(z):
    return 2.0 / (1.0 + np.exp(-2.0 * np.asarray(z, dtype=float))) - 1.0
"""),
    "tanh_rounded_input": ("03_activations", "tanh", """
def tanh(z):
    z = np.round(z, 5)
    return (np.exp(2 * z) - 1.0) / (np.exp(2 * z) + 1.0)
"""),
    "relu_scalar_only": ("03_activations", "relu", """
def relu(z):
    return max(0.0, z)
"""),
    "relu_array_only": ("03_activations", "relu", """
def relu(z):
    z = z.copy()
    z[z < 0] = 0.0
    return z
"""),
    "relu_zeros_for_arrays": ("03_activations", "relu", """
def relu(z):
    if isinstance(z, np.ndarray):
        return np.zeros_like(z)
    return max(0.0, z)
"""),
    "relu_vectorize_int": ("03_activations", "relu", """
relu = np.vectorize(lambda v: max(0, v))
"""),
    "leaky_relu_maximum": ("03_activations", "leaky_relu", """
def leaky_relu(z, alpha=0.01):
    return np.maximum(z, alpha * np.asarray(z, dtype=float))
"""),
    "tanh_derivative_math_exp": ("03_activations", "tanh_derivative", """
import math
tanh_derivative = np.vectorize(lambda v: 4.0 * math.exp(2.0 * v) / (math.exp(2.0 * v) + 1.0) ** 2)
"""),
    "relu_derivative_int": ("03_activations", "relu_derivative", """
def relu_derivative(z):
    return (np.asarray(z) > 0).astype(int)
"""),
    "relu_derivative_bool": ("03_activations", "relu_derivative", """
def relu_derivative(z):
    return np.asarray(z) > 0
"""),
}

# name -> (points lost on its function, a text the first line of that function's first
# failed check must contain).
EXPECT: dict[str, tuple[float, str]] = {
    "sigmoid_object_dtype": (2.5, "an array of dtype object"),
    "sigmoid_scipy_in_function": (3.0, "ModuleNotFoundError: No module named 'scipy'"),
    "sigmoid_scipy_in_cell": (3.0, "sigmoid is not defined"),
    "predict_bool_strict": (2.0, "expected an integer array, got dtype bool"),
    "forward_single_output": (2.0, "case 'two outputs': forward raised AssertionError: one output only"),
    "forward_first_output_only": (2.0, "case 'two outputs': expected shape (5, 2), got shape (5, 1)"),
    "compute_loss_mse": (1.0, "Likely cause: the mean over all entries is taken instead of the sum, "
                              "and the factor 1/2 is missing"),
    "compute_loss_no_half": (1.0, "Likely cause: the factor 1/2 is missing"),
    "compute_loss_mean_over_samples": (1.0, "Likely cause: the mean over samples is taken instead of the sum"),
    "compute_loss_mean": (1.0, "Likely cause: the mean over all entries is taken instead of the sum"),
    "xor_predict_bool_strict": (1.0, "expected an integer array, got dtype bool"),
    "tanh_warns": (0.25, "numpy warned during the call (RuntimeWarning: overflow"),
    "tanh_rounded_input": (0.75, "case 'a rank-1 array':"),
    "relu_scalar_only": (0.75, "cases 'a rank-1 array', 'a rank-2 array', 'a rank-3 array': relu raised ValueError"),
    "relu_array_only": (0.25, "cases 'a positive Python float', 'exactly zero': relu raised AttributeError"),
    "relu_zeros_for_arrays": (1.0, "values differ"),
    "relu_vectorize_int": (1.0, "expected float64 values, got dtype int64, and"),
    "leaky_relu_maximum": (0.5, "Likely cause: np.maximum(z, alpha * z) is leaky ReLU only for alpha <= 1"),
    "tanh_derivative_math_exp": (0.25, "tanh_derivative raised OverflowError"),
    "relu_derivative_int": (1.0, "expected float64 values, got dtype int64 (the values are right"),
    "relu_derivative_bool": (1.0, "expected float64 values, got dtype bool (the values are right"),
}

# Correct code in other forms than the solution key's: each earns full marks.
CORRECT: dict[str, tuple[str, str, str]] = {
    "sigmoid_lesson_clip": ("01_perceptron", "sigmoid", """
def sigmoid(x):
    return 1 / (1 + np.exp(-np.clip(x, -500, 500)))
"""),
    "sigmoid_exp_min": ("01_perceptron", "sigmoid", """
def sigmoid(z):
    z = np.asarray(z, dtype=float)
    return np.exp(np.minimum(z, 0)) / (1 + np.exp(-np.abs(z)))
"""),
    "sigmoid_masks": ("01_perceptron", "sigmoid", """
def sigmoid(z):
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1 / (1 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1 + e)
    return out
"""),
    "sigmoid_tanh": ("01_perceptron", "sigmoid", """
def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=float)))
"""),
    "neuron_output_loop": ("01_perceptron", "neuron_output", """
def neuron_output(X, weights, bias):
    return np.array([sigmoid(sum(w * x for w, x in zip(weights, row)) + bias) for row in X], dtype=float)
"""),
    "perceptron_step_copy": ("01_perceptron", "perceptron_step", """
def perceptron_step(X, y, weights, bias, learning_rate):
    w = weights.copy()
    out = neuron_output(X, w, bias)
    error = y - out
    delta = error * out * (1 - out)
    w += learning_rate * X.T @ delta
    return w, bias + learning_rate * delta.sum()
"""),
    "train_perceptron_list": ("01_perceptron", "train_perceptron", """
def train_perceptron(X, y, weights, bias, learning_rate=0.5, epochs=1000):
    losses = []
    for _ in range(epochs):
        losses.append(0.5 * np.sum((neuron_output(X, weights, bias) - y) ** 2))
        weights, bias = perceptron_step(X, y, weights, bias, learning_rate)
    return weights, bias, losses
"""),
    "predict_where": ("01_perceptron", "predict", """
def predict(X, weights, bias):
    return np.where(neuron_output(X, weights, bias) >= 0.5, 1, 0)
"""),
    "init_network_normal": ("02_xor_network", "init_network", """
def init_network(n_inputs=2, n_hidden=4, n_outputs=1, seed=42):
    rng = np.random.default_rng(seed)
    W1 = rng.normal(0.0, 0.5, size=(n_inputs, n_hidden))
    W2 = rng.normal(0.0, 0.5, size=(n_hidden, n_outputs))
    return {"W1": W1, "b1": np.zeros((1, n_hidden)), "W2": W2, "b2": np.zeros((1, n_outputs))}
"""),
    # the contract asks for a dict with W1, b1, W2, b2, not for those keys alone
    "init_network_with_sizes": ("02_xor_network", "init_network", """
def init_network(n_inputs=2, n_hidden=4, n_outputs=1, seed=42):
    rng = np.random.default_rng(seed)
    shapes = {"W1": (n_inputs, n_hidden), "W2": (n_hidden, n_outputs)}     # drawn in this order
    params = {name: 0.5 * rng.standard_normal(shape) for name, shape in shapes.items()}
    params["b1"], params["b2"] = np.zeros((1, n_hidden)), np.zeros((1, n_outputs))
    params["sizes"] = (n_inputs, n_hidden, n_outputs)
    return params
"""),
    "forward_loops": ("02_xor_network", "forward", """
def forward(X, params):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n, h, k = len(X), W1.shape[1], W2.shape[1]
    Z1, Z2 = np.zeros((n, h)), np.zeros((n, k))
    for i in range(n):
        for j in range(h):
            Z1[i, j] = sum(X[i, m] * W1[m, j] for m in range(W1.shape[0])) + b1[0, j]
    A1 = sigmoid(Z1)
    for i in range(n):
        for j in range(k):
            Z2[i, j] = sum(A1[i, m] * W2[m, j] for m in range(h)) + b2[0, j]
    A2 = sigmoid(Z2)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}
"""),
    "compute_loss_square": ("02_xor_network", "compute_loss", """
def compute_loss(y_hat, y):
    return np.sum(np.square(y_hat - y)) / 2
"""),
    "backward_loops": ("02_xor_network", "backward", """
def backward(X, y, params, cache):
    A1, A2, W2 = cache["A1"], cache["A2"], params["W2"]
    n, h, k = A1.shape[0], A1.shape[1], A2.shape[1]
    dZ2 = (A2 - y) * A2 * (1 - A2)
    grads = {name: np.zeros_like(value, dtype=float) for name, value in params.items()}
    dZ1 = np.zeros((n, h))
    for i in range(n):
        for j in range(h):
            dZ1[i, j] = sum(dZ2[i, c] * W2[j, c] for c in range(k)) * A1[i, j] * (1 - A1[i, j])
    for i in range(n):
        grads["W2"] += np.outer(A1[i], dZ2[i])
        grads["b2"] += dZ2[i]
        grads["W1"] += np.outer(X[i], dZ1[i])
        grads["b1"] += dZ1[i]
    return grads
"""),
    "update_deepcopy": ("02_xor_network", "update", """
import copy
def update(params, grads, learning_rate):
    new = copy.deepcopy(params)
    for key in new:
        new[key] -= learning_rate * grads[key]
    return new
"""),
    "train_deepcopy": ("02_xor_network", "train", """
import copy
def train(X, y, params, learning_rate=0.5, epochs=10000):
    params = copy.deepcopy(params)
    losses = []
    for _ in range(epochs):
        A2, cache = forward(X, params)
        losses.append(compute_loss(A2, y))
        params = update(params, backward(X, y, params, cache), learning_rate)
    return params, np.array(losses)
"""),
    "xor_predict_int32": ("02_xor_network", "predict", """
def predict(X, params):
    return (forward(X, params)[0] >= 0.5).astype(np.int32)
"""),
    "relu_clip": ("03_activations", "relu", """
def relu(z):
    return np.clip(z, 0, None) * 1.0
"""),
    "relu_multiply": ("03_activations", "relu", """
def relu(z):
    return z * (z > 0)
"""),
    "leaky_relu_where": ("03_activations", "leaky_relu", """
def leaky_relu(z, alpha=0.01):
    z = np.asarray(z, dtype=float)
    return np.where(z > 0, z, alpha * z)
"""),
    "sigmoid_derivative_abs": ("03_activations", "sigmoid_derivative", """
def sigmoid_derivative(z):
    e = np.exp(-np.abs(np.asarray(z, dtype=float)))
    return e / (1 + e) ** 2
"""),
    "tanh_derivative_square": ("03_activations", "tanh_derivative", """
def tanh_derivative(z):
    return 1 - np.tanh(z) ** 2
"""),
    "relu_derivative_heaviside": ("03_activations", "relu_derivative", """
def relu_derivative(z):
    return np.heaviside(z, 0.0)
"""),
    "leaky_relu_derivative_select": ("03_activations", "leaky_relu_derivative", """
def leaky_relu_derivative(z, alpha=0.01):
    z = np.asarray(z, dtype=float)
    out = np.ones_like(z)
    out[z <= 0] = alpha
    return out
"""),
}

# name -> (notebook, function, answer code). Each must be contained: it costs the
# function's points (at most its notebook's), never the class run.
HOSTILE: dict[str, tuple[str, str, str]] = {
    "infinite_loop": ("01_perceptron", "sigmoid", """
def sigmoid(z):
    while True:
        pass
"""),
    "memory_hog": ("01_perceptron", "neuron_output", """
def neuron_output(X, weights, bias):
    hog = [np.ones(10**8) for _ in range(100)]
    return sigmoid(X @ weights + bias)
"""),
    "exit_process": ("01_perceptron", "perceptron_step", """
import os
def perceptron_step(X, y, weights, bias, learning_rate):
    os._exit(0)
"""),
    "patched_allclose": ("03_activations", "relu", """
np.allclose = lambda *a, **k: True
np.isclose = lambda a, b, *args, **kw: np.ones(np.shape(a), dtype=bool)
def relu(z):
    return np.zeros_like(np.asarray(z, dtype=float)) - 7.0
"""),
    "write_outside": ("03_activations", "tanh", """
import pathlib, os
for target in [pathlib.Path(os.environ.get("NN_INTRO_HOSTILE_TARGET", "/nonexistent")) / "pwned.txt"]:
    try:
        target.write_text("pwned")
    except OSError:
        pass
def tanh(z):
    return np.tanh(z)
"""),
    "detached_child": ("02_xor_network", "compute_loss", """
import os, time
def compute_loss(y_hat, y):
    r, w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(w, b"s")                   # the daemon runs: tell the function
            os.execv("/bin/sleep", ["sleep", os.environ.get("NN_INTRO_HOSTILE_TOKEN", "600")])
        os._exit(0)
    os.close(w)
    if os.read(r, 1) == b"s":
        print("daemon started", flush=True)
    os.close(r)
    return 0.5 * float(np.sum((y_hat - y) ** 2))
"""),
    "read_solutions": ("03_activations", "relu", """
import os, json
def relu(z):
    path = os.environ.get("NN_INTRO_HOSTILE_SOLUTION", "")
    try:
        cells = json.load(open(path))["cells"]
    except OSError:
        return np.asarray(z, dtype=float) * 0 - 7.0
    code = [''.join(c["source"]) for c in cells if c["metadata"].get("nbgrader", {}).get("grade_id") == "relu_answer"]
    exec(code[0], globals())
    return relu(z)
"""),
    "search_memory": ("03_activations", "relu", """
import gc, sys
def _is_refs(o):
    return isinstance(o, dict) and any(isinstance(k, str) and k.startswith("03_activations/relu/values/") for k in o)
def _found():
    gc.unfreeze()
    if any(_is_refs(o) for o in gc.get_objects()):
        return True
    frame = sys._getframe()
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if _is_refs(value) or _is_refs(getattr(value, "__dict__", {}).get("references")):
                return True
        frame = frame.f_back
    return False
def relu(z):
    return np.maximum(0.0, np.asarray(z, dtype=float)) if _found() else np.asarray(z, dtype=float) * 0 - 7.0
"""),
    "output_flood": ("03_activations", "relu_derivative", """
def relu_derivative(z):
    for _ in range(10**6):
        print("spam " * 20)
    return (np.asarray(z) > 0).astype(float)
"""),
}


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _src(cell) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


_SOLUTION = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", re.MULTILINE)


def solution_code(notebook: str, function: str, root: Path = ROOT) -> str:
    """The solution key's answer cell for `function`, without the solution markers."""
    for cell in _read(root / "source" / ASSIGNMENT / f"{notebook}.ipynb")["cells"]:
        if _meta(cell).get("grade_id") == f"{function}_answer":
            return _SOLUTION.sub("", _src(cell))
    raise KeyError(f"{notebook} has no answer cell for {function}")


def notebook_with(notebook: str, answers: dict[str, str | None], root: Path = ROOT,
                  fill_rest: bool = True) -> dict:
    """The release notebook with answer cells replaced: answers[function] = code, or None
    to leave the stub; functions not named get the solution if fill_rest."""
    nb = copy.deepcopy(_read(root / "release" / ASSIGNMENT / f"{notebook}.ipynb"))
    for cell in nb["cells"]:
        gid = _meta(cell).get("grade_id", "")
        if not gid.endswith("_answer"):
            continue
        function = gid[: -len("_answer")]
        if function in answers:
            code = answers[function]
        else:
            code = solution_code(notebook, function, root) if fill_rest else None
        if code is not None:
            cell["source"] = code.strip("\n") + "\n"
    return nb


def write_submission(folder: Path, overrides: dict[str, dict[str, str | None]] | None = None,
                     blank: bool = False, root: Path = ROOT) -> Path:
    """Write submitted/<student>/nn_intro-like `folder` with three notebooks.
    overrides: notebook -> {function: code or None}."""
    folder.mkdir(parents=True, exist_ok=True)
    overrides = overrides or {}
    for name in NOTEBOOKS:
        nb = notebook_with(name, overrides.get(name, {}), root, fill_rest=not blank)
        (folder / f"{name}.ipynb").write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")
    return folder


def write_bug(folder: Path, bug: str, root: Path = ROOT) -> Path:
    notebook, function, code = {**BUGS, **FAIR_BUGS, **CORRECT, **HOSTILE}[bug]
    return write_submission(folder, {notebook: {function: code}}, root=root)


_RENAMES = {"out": "result", "pos": "positive", "e": "ez", "n": "rows", "h": "hidden", "k": "outs",
            "i": "r", "j": "c", "m": "t", "c": "q", "grads": "gradients", "dZ1": "delta1", "dZ2": "delta2"}


def _disguised(code: str) -> str:
    """`code` as a student who copied it would hand it in: other names, a comment per block."""
    renamed = re.sub(r"\b[A-Za-z_][A-Za-z0-9_]*\b", lambda m: _RENAMES.get(m.group(0), m.group(0)), code)
    return "\n".join(line + ("  # my own loop" if line.strip().startswith("for ") else "")
                     for line in renamed.splitlines()) + "\n"


# The sample class shipped in samples/ for `make demo`: student -> (what it shows, how to build it).
SAMPLES = {
    "ada": ("a correct submission", {}),
    "blake": ("handed in the release untouched", None),
    "casey": ("three classic slips: a naive sigmoid, a mean instead of a sum, relu'(0) = 1", {
        "01_perceptron": {"sigmoid": BUGS["sigmoid_naive"][2]},
        "02_xor_network": {"compute_loss": BUGS["compute_loss_mean"][2]},
        "03_activations": {"relu_derivative": BUGS["relu_derivative_one_at_zero"][2]},
    }),
    "dana": ("updates in place, ignores the learning rate, differentiates the output", {
        "01_perceptron": {"perceptron_step": BUGS["perceptron_step_in_place"][2]},
        "02_xor_network": {"train": BUGS["train_ignores_learning_rate"][2]},
        "03_activations": {"tanh_derivative": BUGS["tanh_derivative_of_output"][2]},
    }),
    "eli": ("tries to cheat: patches np.allclose, loops forever in sigmoid", {
        "01_perceptron": {"sigmoid": HOSTILE["infinite_loop"][2]},
        "03_activations": {"relu": HOSTILE["patched_allclose"][2]},
    }),
    "flynn": ("a corrupted notebook file and a syntax error", {
        "03_activations": {"leaky_relu": "def leaky_relu(z, alpha=0.01):\n    return np.where(z > 0, z, alpha * z\n"},
    }),
    "gus": ("correct, in forms of his own: loops in forward and backward, masks in sigmoid", {
        "01_perceptron": {"sigmoid": CORRECT["sigmoid_masks"][2]},
        "02_xor_network": {"forward": CORRECT["forward_loops"][2], "backward": CORRECT["backward_loops"][2]},
    }),
    "hana": ("gus's code with the names changed and comments added (the insights page's similar pair)", {
        "01_perceptron": {"sigmoid": _disguised(CORRECT["sigmoid_masks"][2])},
        "02_xor_network": {"forward": _disguised(CORRECT["forward_loops"][2]),
                           "backward": _disguised(CORRECT["backward_loops"][2])},
    }),
}


class SamplesError(RuntimeError):
    """The sample class cannot be built here (one line: why)."""


def write_samples(dest: Path, root: Path = ROOT) -> list[str]:
    """Write the sample class into dest/<student>/nn_intro/ (what `make samples` commits),
    replacing what was there; returns the students written. Raises SamplesError when the
    release or the source notebooks they are built from are missing."""
    for kind in ("release", "source"):
        for name in NOTEBOOKS:
            if not (root / kind / ASSIGNMENT / f"{name}.ipynb").is_file():
                raise SamplesError(f"{kind}/{ASSIGNMENT}/{name}.ipynb is missing: the samples are built "
                                   f"from it (run `python -m grader release {ASSIGNMENT}` first)")
    shutil.rmtree(dest, ignore_errors=True)
    for student, (about, overrides) in SAMPLES.items():
        folder = dest / student / ASSIGNMENT
        write_submission(folder, overrides or {}, blank=overrides is None, root=root)
        if student == "flynn":
            broken = folder / "02_xor_network.ipynb"
            broken.write_text(broken.read_text()[: 2000], encoding="utf-8")   # cut off mid-file
        (dest / student / "ABOUT.txt").write_text(about + "\n", encoding="utf-8")
    return list(SAMPLES)


# ---------------------------------------------------------------------------------------
# A synthetic class of any size (the insights page's scale test and `bench/run.py insights`)

SYNTHETIC_CAUSES = ("the mean over all entries is taken instead of the sum", "the factor 1/2 is missing",
                    "the sign is flipped", "the result is transposed", "the derivative is taken of the output")


def write_synthetic_class(course, n: int, seed: int = 0, copied_every: int = 100) -> list[str]:
    """Write n synthetic students into the course copy `course` (a grader.course.Course):
    their submitted notebooks and made-up result records (not graded: random check outcomes,
    causes and incidents, shaped like real ones), to show what the class-wide reports cost
    at scale. Per function, a student's answer is the solution key, a planted bug, another
    correct form or the stub, with a few lines of their own (so that most of their code is
    theirs alone, as in a real class); every `copied_every`-th student hands in the previous
    one's code, disguised. Returns the student ids. For tests and benchmarks only."""
    import random

    from . import results as R
    from .checks import definition
    from .grading import grader_fingerprint, submission_fingerprint

    rng = random.Random(seed)
    bank: dict[str, list[str]] = {}
    for _, function, code in [*BUGS.values(), *FAIR_BUGS.values(), *CORRECT.values()]:
        bank.setdefault(function, []).append(code)
    students = [f"s{i:04d}" for i in range(n)]
    graded_with = grader_fingerprint(course)
    answers: dict[str, dict[str, dict[str, str | None]]] = {}
    for i, student in enumerate(students):
        if copied_every and i % copied_every == copied_every - 1 and i:
            answers[student] = {nb: {f: (_disguised(c) if c else c) for f, c in fs.items()}
                                for nb, fs in answers[students[i - 1]].items()}
        else:
            mine: dict[str, dict[str, str | None]] = {}
            for nb in course.notebooks:
                for fn in nb.functions:
                    roll = rng.random()
                    if roll < 0.12:
                        code = None
                    else:
                        code = (rng.choice(bank[fn.name]) if roll < 0.4 and fn.name in bank
                                else solution_code(nb.name, fn.name, course.root))
                        code += "".join(f"\n_mine_{k} = [{rng.randrange(10**6)}, {rng.randrange(10**6)}, "
                                        f"{rng.randrange(10**6)}]" for k in range(rng.randrange(2, 5)))
                    mine.setdefault(nb.name, {})[fn.name] = code
            answers[student] = mine
        folder = course.submission_dir(student)
        folder.mkdir(parents=True, exist_ok=True)
        for nb in course.notebooks:
            data = notebook_with(nb.name, answers[student][nb.name], course.root, fill_rest=False)
            (folder / nb.filename).write_text(json.dumps(data), encoding="utf-8")

        notebooks = []
        for nb in course.notebooks:
            checks, incidents = [], []
            skill = rng.random()
            for fn in nb.functions:
                stub = answers[student][nb.name][fn.name] is None
                for spec in fn.checks:
                    passed = not stub and rng.random() < 0.55 + 0.45 * skill
                    failure = "" if passed else (R.NOT_IMPLEMENTED if stub else rng.choice(R.FAILURES[:6]))
                    causes = [rng.choice(SYNTHETIC_CAUSES)] if failure == R.WRONG and rng.random() < 0.5 else []
                    checks.append(R.CheckResult(nb.name, fn.name, spec.name, definition(spec).title,
                                                spec.points if passed else 0.0, spec.points, passed,
                                                "" if passed else "synthetic failure", 0.001, failure, causes))
            if rng.random() < 0.03:
                incidents.append(R.Incident(rng.choice(R.INCIDENTS[1:]), "cell-1", "synthetic incident"))
            score = sum(c.score for c in checks)
            notebooks.append(R.NotebookResult(nb.name, score, nb.points, checks, incidents=incidents))
        result = R.SubmissionResult(student, course.assignment, sum(nb.score for nb in notebooks), course.points,
                                    notebooks, graded_at="2026-12-03T09:00:00+00:00", isolation="namespaces",
                                    fingerprint=submission_fingerprint(folder, graded_with), graded_with=graded_with)
        record = course.result_record(student)
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(result.to_dict()), encoding="utf-8")
    return students
