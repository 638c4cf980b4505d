"""Synthetic submissions for the tests, the sample submissions and the benchmark.

A submission is built from the release notebooks (what a student starts from) with the
answer cells filled in: with the solution key's code, left blank, or with a planted bug
or a hostile payload from the banks below.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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
    notebook, function, code = {**BUGS, **HOSTILE}[bug]
    return write_submission(folder, {notebook: {function: code}}, root=root)


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
}


def write_samples(dest: Path, root: Path = ROOT) -> None:
    """Write the sample class into dest/<student>/nn_intro/ (what `make samples` commits)."""
    for student, (about, overrides) in SAMPLES.items():
        folder = dest / student / ASSIGNMENT
        write_submission(folder, overrides or {}, blank=overrides is None, root=root)
        if student == "flynn":
            broken = folder / "02_xor_network.ipynb"
            broken.write_text(broken.read_text()[: 2000], encoding="utf-8")   # cut off mid-file
        (dest / student / "ABOUT.txt").write_text(about + "\n", encoding="utf-8")


if __name__ == "__main__":   # python tests/submissions.py samples/
    import shutil
    import sys

    target = Path(sys.argv[1])
    shutil.rmtree(target, ignore_errors=True)
    write_samples(target)
