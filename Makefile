# `make run`  : set up .venv, install data where possible, run every chapter in quick mode, print a table per chapter
# `make test` : same set-up (and Chromium for the book's browser test), then the test suite (what CI runs)
# `make book` : the offline HTML book of the executed chapters (build/book/html/index.html)
# `make lab`  : JupyterLab on notebooks/ (adds --allow-root when run as root, e.g. in a container)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lossnotes-installed
FMNIST_FILES := train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz
PYTEST_ARGS ?= -n 2 --dist loadgroup -rs
# Notebooks reach git without outputs: `git add` runs this clean filter on *.ipynb (declared in .gitattributes);
# cell ids are kept, and the language_info keys that JupyterLab adds on save are dropped.
NBSTRIPOUT = "$(abspath $(BIN))/python" -m nbstripout --keep-id --extra-keys "metadata.language_info.codemirror_mode \
  metadata.language_info.file_extension metadata.language_info.mimetype metadata.language_info.nbconvert_exporter \
  metadata.language_info.pygments_lexer metadata.language_info.version"

.PHONY: run test setup data full bench book lab browser git-filter clean

run: setup data
	$(BIN)/lossnotes run

full: setup data
	$(BIN)/lossnotes run --full

test: setup data browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Builds from build/notebooks (running the chapters not executed yet), then loads every page in headless Chromium
# with all non-local requests blocked when Chromium is there.
book: setup data
	$(BIN)/lossnotes book $$(command -v chromium >/dev/null 2>&1 && echo --check)

lab: setup
	$(BIN)/jupyter lab notebooks/ $$([ "$$(id -u)" = 0 ] && echo --allow-root)

bench: setup
	$(BIN)/python benchmarks/bench_losses.py

setup: $(STAMP) git-filter

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned, so the package's torch requirement is already met by the CPU build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -c "import lossnotes.losses, torch; print('lossnotes installed with torch', torch.__version__)"
	touch $(STAMP)

# In a git checkout: strip notebook outputs on `git add` (nbstripout); `git diff` compares the stripped form too.
git-filter:
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  git config filter.nbstripout.clean '$(NBSTRIPOUT)' && git config filter.nbstripout.smudge cat; \
	fi

# Headless Chromium for the book's browser test (the Debian package; Playwright drives it): installed with apt-get
# when we are root; otherwise the test is skipped and says why.
browser:
	@if command -v chromium >/dev/null 2>&1 || [ -n "$${LOSSNOTES_CHROMIUM:-}" ]; then exit 0; fi; \
	if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Chromium from the Debian package chromium (for the book's browser test)"; \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1)) \
	  && echo "Chromium installed" && exit 0; \
	fi; \
	echo "NOTE: no Chromium here; the book's browser test will be skipped (install the Debian package chromium)."

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
