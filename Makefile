# Two entry points for a fresh machine (Python 3.11 is all it needs):
#   make run    create .venv, install, run the conv1d search (cuda if a GPU is visible, else the Triton interpreter)
#   make test   create .venv, install, run the test suite (CPU only)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: install browser run test test-gpu lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,s3]'
	touch $@

install: $(VENV)/.installed

# tests/browser opens the HTML reports in headless Chromium: Debian's package is installed when it is
# missing and we are root with apt-get (CI); anywhere else those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } \
	      >/dev/null 2>&1; } || echo "chromium is not installed: the browser tests will skip"

run: install
	$(PY) -m kernelevolve.launch +experiment=conv1d $(ARGS)

# The suite runs in two parts: the tests that start no Ray instance on two pytest workers (whole files each,
# so a module's fixtures are built once), then the Ray tests one at a time (each module starts its own instance,
# and two at once would join each other's). Exit status 5 (no test selected) is not a failure when ARGS
# narrows the run (e.g. names a path of the other part); without ARGS it is.
test: install browser
	$(PY) -m ruff check kernelevolve actors tests benchmarks
	$(PY) -m pytest -q -m "not gpu and not ray" -n 2 --dist loadfile $(ARGS) || { [ $$? -eq 5 ] && [ -n "$(ARGS)" ]; }
	$(PY) -m pytest -q -m "ray and not gpu" $(ARGS) || { [ $$? -eq 5 ] && [ -n "$(ARGS)" ]; }

test-gpu: install
	$(PY) -m pytest -q -m gpu $(ARGS)

lint: install
	$(PY) -m ruff check kernelevolve actors tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
