# Quick start:  make demo   (set up, release, grade the sample submissions, print the class table)
#               make test   (set up, then every test)
#               make check  (set up, then the quick lane: no test marked slow, kernel or nbgrader)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test check release references samples gradescope bench bench-insights clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@if ! command -v bwrap >/dev/null 2>&1; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	        echo "setup: installing bubblewrap (isolates student code)"; \
	        (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null 2>&1 \
	         || (apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null 2>&1)) \
	         || echo "setup: bubblewrap could not be installed; as root the grader falls back to uid isolation"; \
	    else \
	        echo "setup: bubblewrap (bwrap) is missing: install it (apt-get install bubblewrap) or the grader will refuse to grade"; \
	    fi; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip > $(VENV)/pip.log 2>&1 || (tail -30 $(VENV)/pip.log; exit 1)
	$(PY) -m pip install --quiet -e '.[dev,dask]' >> $(VENV)/pip.log 2>&1 || (tail -30 $(VENV)/pip.log; exit 1)
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

release: $(STAMP)
	$(PY) -m grader release nn_intro
	$(PY) -m grader samples

references: $(STAMP)
	$(PY) -m grader references

demo: $(STAMP)
	$(PY) -m grader demo

test: $(STAMP)
	$(PY) -m pytest -n 2 -q

# the quick lane (under a minute on 2 cores): the markers are declared in pyproject.toml
QUICK := not slow and not kernel and not nbgrader
check: $(STAMP)
	$(PY) -m pytest -n 2 -q -m "$(QUICK)"

gradescope: $(STAMP)
	$(PY) -m grader gradescope-bundle

bench: $(STAMP)
	$(PY) bench/run.py

# the insights page at 100-1,000 students, our similarity beside copydetect's (installed here)
bench-insights: $(STAMP)
	$(PY) -m pip install --quiet 'copydetect>=0.5,<0.6'
	$(PY) bench/insights.py

clean:
	rm -rf $(VENV) submitted autograded/*/ feedback grader_feedback insights gradebook.db grades.csv grades_lms.csv grades_nbgrader.csv dist .grader

samples: $(STAMP)
	$(PY) -m grader samples
