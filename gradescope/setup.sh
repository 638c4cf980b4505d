#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (the bundle is
# unpacked in /autograder/source). It installs Python if the image lacks it, then the
# grader and its dependencies from the bundled sources into /autograder/venv.
# AUTOGRADER_ROOT (default /autograder) relocates it, for trying it outside Gradescope.
set -euo pipefail
cd "$(dirname "$0")"
ROOT="${AUTOGRADER_ROOT:-/autograder}"

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends python3 python3-venv python3-pip
fi
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "the grader needs Python 3.10 or newer, found " + sys.version.split()[0])'

# bubblewrap gives every notebook its own namespaces where the container allows them;
# where it does not (Docker's defaults), the grader uses its uid mode (README: "What is
# guaranteed where"). Best effort: the build goes on without it.
if ! command -v bwrap >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends bubblewrap \
        || echo "setup: bubblewrap not installed; student code will run in uid mode" >&2
fi

python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --quiet --upgrade pip
"$ROOT/venv/bin/python" -m pip install --quiet .
# fail the build now, not at the first submission (run from here: the bundled grader)
"$ROOT/venv/bin/python" -c 'import grader.grading, grader.references as r; r.load()'
# Every copy of the reference outputs (the bundle's, setuptools' build/, the installed
# package's) and the solutions are root's alone: student code runs as another uid.
rm -rf build
find "$ROOT" -name references.bin -exec chmod 600 {} +
chmod -R go-rwx source 2>/dev/null || true
