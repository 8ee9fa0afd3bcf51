# One entry point. Each target sets up its own virtual environment from the pinned requirements
# (requirements.txt is the lock) and installs this package into it, editable, so `genre-hf` is the
# command every target runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The data: the project's machines keep a development copy in ../shared; anywhere else `make data`
# downloads it (genre-hf data) into data/ the first time a target needs it. DATA=path uses any other
# source and downloads nothing.
SHARED_DATA := ../shared/data/imdb-multimodal
DOWNLOADED_DATA := data/imdb-multimodal
DEFAULT_DATA := $(if $(wildcard $(SHARED_DATA)/IMDB_overview_genres.csv),$(SHARED_DATA),$(DOWNLOADED_DATA))
DATA ?= $(DEFAULT_DATA)
# A target's data prerequisite: the download, when DATA is the download folder.
NEEDS_DATA = $(if $(filter $(DOWNLOADED_DATA),$(DATA)),$(DOWNLOADED_DATA)/IMDB_overview_genres.csv)
OUT ?= artifacts/model
OUT_PRETRAINED ?= artifacts/model-pretrained
# `make evaluate` writes its reports here, not into the model folder (which a retraining replaces as a whole).
EVAL_OUT ?= artifacts/evaluation
# The data the model was trained on: `make evaluate` fits the baselines on its train split.
TRAIN_DATA ?= $(DEFAULT_DATA)
# `make benchmark`: seeds per model, the model family, where the results go.
SEEDS ?= 3
FAMILY ?= scratch
BENCHMARK_OUT ?= artifacts/benchmark-$(FAMILY)
# Without SPLIT, the training data is scored on its test split (never trained or tuned on) and other
# data on every row; SPLIT=all scores every row (evaluate then warns about rows training used).
EVAL_SPLIT = $(or $(SPLIT),$(if $(filter $(DATA),$(TRAIN_DATA)),test,all))
PORT ?= 7860
# `make test` runs the test files on this many processes (pytest-xdist; each file stays in one, the longest
# first: tests/conftest.py FILE_SECONDS). 1: serially.
PYTEST_WORKERS ?= 2
export TF_CPP_MIN_LOG_LEVEL ?= 3
export GRADIO_ANALYTICS_ENABLED = False
export HF_HUB_DISABLE_TELEMETRY = 1
# Machines without the Hub (ours): hf:// encoder presets come from local copies of their Hub files
# (see genre_hf/modeling/presets.py); the tests unset it and serve them from their 127.0.0.1 Hub instead.
ifneq ($(wildcard ../shared/models),)
export GENRE_HF_PRESET_MIRROR ?= $(abspath ../shared/models)
endif

.PHONY: install install-test data train train-pretrained benchmark evaluate predict test app push bench install-check docs clean

$(BIN)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(BIN)/.installed-test: $(BIN)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

install-test: $(BIN)/.installed-test
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
		echo "chromium not installed: the browser test will be skipped"; }

# The CSV is written last, once every poster is verified: its presence means the download is whole.
$(DOWNLOADED_DATA)/IMDB_overview_genres.csv: | $(BIN)/.installed
	$(BIN)/genre-hf data --out $(DOWNLOADED_DATA)

data: install
	$(BIN)/genre-hf data --out $(DOWNLOADED_DATA)

train: install $(NEEDS_DATA)
	$(BIN)/genre-hf train --data $(DATA) --out $(OUT) $(ARGS)

train-pretrained: install $(NEEDS_DATA)
	$(BIN)/genre-hf train --family pretrained --data $(DATA) --out $(OUT_PRETRAINED) $(ARGS)

# Every model and baseline trained with $(SEEDS) seeds and scored on the test split: mean ± std, per-genre
# tables, plots and results.json in $(BENCHMARK_OUT). DATA may be an MM-IMDb folder (see docs/data.md, MM-IMDb).
benchmark: install $(NEEDS_DATA)
	$(BIN)/genre-hf benchmark --data $(DATA) --family $(FAMILY) --seeds $(SEEDS) --out $(BENCHMARK_OUT) $(ARGS)

evaluate: install $(NEEDS_DATA)
	$(BIN)/genre-hf evaluate --model $(OUT) --data $(DATA) $(if $(filter-out all,$(EVAL_SPLIT)),--split $(EVAL_SPLIT)) \
		--baselines-from $(TRAIN_DATA) --output $(EVAL_OUT)/report.json --plots $(EVAL_OUT)

predict: install $(NEEDS_DATA)
	$(BIN)/genre-hf predict --model $(OUT) --data $(DATA) --output $(or $(OUTPUT),$(OUT)/predictions.parquet)

test: install-test $(NEEDS_DATA)
	GENRE_HF_TEST_DATA=$(abspath $(DATA)) $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# Serves $GENRE_HF_MODEL when set (Hub repo ids or folders, one per family, comma-separated); otherwise each family
# trained here ($(OUT) and $(OUT_PRETRAINED), visitors switch between them), or $(OUT) trained first if neither is.
comma := ,
APP_MODELS = $(or $(GENRE_HF_MODEL),$(subst $() ,$(comma),$(strip $(foreach model,$(OUT) $(OUT_PRETRAINED),$(if $(wildcard $(model)/config.json),$(model))))))
app: install
	@[ -n "$(APP_MODELS)" ] || $(MAKE) train
	GENRE_HF_MODEL="$(or $(APP_MODELS),$(OUT))" GENRE_HF_DATA=$${GENRE_HF_DATA:-$(DATA)} $(BIN)/genre-hf app --port $(PORT)

push: install
	$(BIN)/genre-hf push --model $(OUT) --repo $(REPO) $(if $(PRIVATE),--private)

# Speed: a fresh process's first answer against `import tensorflow`, per-call latency, explanations
# (benchmarks/; each also runs at a tiny size in the tests). The pretrained family's batch throughput:
# `$(BIN)/python benchmarks/pretrained_speed.py $(OUT_PRETRAINED)` (its ratios against the MiniLM on TensorFlow); training cost as data grows: benchmarks/scaling.py.
bench: install $(NEEDS_DATA)
	GENRE_HF_DATA=$(DATA) $(BIN)/python benchmarks/cold_start.py $(OUT)
	GENRE_HF_DATA=$(DATA) $(BIN)/python benchmarks/serving.py $(OUT)
	GENRE_HF_DATA=$(DATA) $(BIN)/python benchmarks/explain.py $(OUT)

# What a user gets from `pip install`: the wheel installed into fresh venvs (no extras, [app], [pretrained]), and in each,
# outside the checkout, the commands the install table (docs/install.md) promises for it (tests/install_check.py; CI runs it).
install-check: install-test $(NEEDS_DATA)
	GENRE_HF_TEST_DATA=$(abspath $(DATA)) $(BIN)/python tests/install_check.py $(if $(ONLY),--only $(ONLY))

# The documentation site (docs/, mkdocs.yml) in build/site; `make test` builds it too, with --strict.
docs: install-test
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) artifacts .pytest_cache build dist *.egg-info
