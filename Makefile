# `make run`  : set up .venv, install data where possible, run every chapter in quick mode, print the scoreboard
# `make test` : same set-up, then the test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lossnotes-installed
FMNIST_FILES := train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz
PYTEST_ARGS ?= -n 2

.PHONY: run test setup data full bench clean

run: setup data
	$(BIN)/lossnotes run

full: setup data
	$(BIN)/lossnotes run --full

test: setup data
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python benchmarks/bench_losses.py

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned, so the package's torch requirement is already met by the CPU build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -c "import lossnotes.losses, torch; print('lossnotes installed with torch', torch.__version__)"
	touch $(STAMP)

# Fashion-MNIST: found in $LOSSNOTES_DATA, data/ or the Debian package's folder; else installed with apt-get
# when we are root; else we say what to do. Chapters that need it fail with the same message.
data:
	@for d in "$${LOSSNOTES_DATA:-/nonexistent}/fashion-mnist" "$${LOSSNOTES_DATA:-/nonexistent}" data/fashion-mnist data /usr/share/datasets/fashion-mnist; do \
	  if [ -f "$$d/train-images-idx3-ubyte.gz" ] || [ -f "$$d/train-images-idx3-ubyte" ]; then echo "Fashion-MNIST found in $$d"; exit 0; fi; \
	done; \
	if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Fashion-MNIST from the Debian package dataset-fashion-mnist"; \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null)) \
	  && echo "Fashion-MNIST installed in /usr/share/datasets/fashion-mnist" && exit 0; \
	fi; \
	echo "WARNING: Fashion-MNIST not found. Install the Debian package (sudo apt-get install dataset-fashion-mnist)"; \
	echo "         or put $(FMNIST_FILES) in data/fashion-mnist/ (or in \$$LOSSNOTES_DATA/fashion-mnist/)."; \
	echo "         Chapters and tests that need it will say so."

clean:
	rm -rf build .pytest_cache
