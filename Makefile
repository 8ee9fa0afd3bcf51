# One entry point. Each target sets up its own virtual environment from the pinned requirements.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data/imdb-multimodal
OUT ?= artifacts/model
# The data the model was trained on: `make evaluate` fits the two baselines on its train split.
TRAIN_DATA ?= ../shared/data/imdb-multimodal
PORT ?= 7860
export TF_CPP_MIN_LOG_LEVEL ?= 2
export GRADIO_ANALYTICS_ENABLED = False
export HF_HUB_DISABLE_TELEMETRY = 1

.PHONY: install install-test train evaluate test app push bench clean

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(BIN)/.installed-test: $(BIN)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

install-test: $(BIN)/.installed-test
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
		echo "chromium not installed: the browser test will be skipped"; }

train: install
	$(BIN)/python train.py --data $(DATA) --out $(OUT) $(ARGS)

evaluate: install
	$(BIN)/python -m genre_hf.evaluate --model $(OUT) --data $(DATA) $(if $(SPLIT),--split $(SPLIT)) \
		--baselines-from $(TRAIN_DATA) --output $(OUT)/evaluation/report.json --plots $(OUT)/evaluation

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

app: install
	@[ -f $(OUT)/config.json ] || $(MAKE) train
	GENRE_HF_MODEL=$${GENRE_HF_MODEL:-$(OUT)} GENRE_HF_DATA=$${GENRE_HF_DATA:-$(DATA)} $(BIN)/python app.py --port $(PORT)

push: install
	$(BIN)/python -c "import sys; from genre_hf import GenreClassifier; from genre_hf.workflow import push; \
		sys.exit(0 if push(GenreClassifier.from_pretrained('$(OUT)'), '$(REPO)', $(if $(PRIVATE),True,False)) else 1)"

bench: install
	$(BIN)/python benchmarks/cold_start.py $(OUT)
	$(BIN)/python benchmarks/serving.py $(OUT)

clean:
	rm -rf $(VENV) artifacts .pytest_cache
