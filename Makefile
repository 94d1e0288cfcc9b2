# Everything runs in a virtual environment per torch version, created on
# first use: .venv-<TORCH>. The default torch is the CUDA 13.0 build, so the
# CUDA kernels are compiled (and must compile) wherever nvcc exists.
#
#   make bench      the benchmark report (bench/results/<machine>/report.md);
#                   without a GPU it also times torch's kernels under the other
#                   pinned torch (BASELINE_TORCH), whose CPU kernels differ a lot
#   make test       build, then the test suite
#   make lint       ruff (check + format check) and clang-format on csrc/
#   make bench-micro  pytest-benchmark micro benchmarks
#
# Variables: TORCH=2.13.0 (CPU-only build, quick to install), PYTHON=python3,
# QUICK=1 (make bench in a few minutes, no second torch), BASELINE_TORCH,
# ACTIVATIONS_EXT_CPU_ONLY=1.

PYTHON ?= python3
TORCH ?= 2.14.1
VENV ?= .venv-$(TORCH)
PY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.deps-stamp
# The second torch of `make bench` on a machine without a GPU.
BASELINE_TORCH ?= $(if $(filter 2.13.0,$(TORCH)),2.14.1,2.13.0)
BASELINE_VENV := .venv-$(BASELINE_TORCH)
HAVE_GPU := $(shell nvidia-smi -L >/dev/null 2>&1 && echo 1)
BENCH_BASELINE := $(if $(or $(HAVE_GPU),$(QUICK)),,$(BASELINE_VENV)/.deps-stamp)
BUILD_STAMP := .stamp-build
SOURCES := setup.py $(wildcard csrc/*.h csrc/*.cpp csrc/*/*.h csrc/*/*.cpp csrc/*/*.cu)

.PHONY: all deps build test bench bench-micro lint format clean

all: test

# torch is pinned exactly: a torch left on the machine never satisfies it.
# One rule makes any environment: $(call venv_rule,<folder>,<torch version>).
define venv_rule
$(1)/.deps-stamp:
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --disable-pip-version-check -q --upgrade pip "setuptools>=64" wheel ninja
	$(1)/bin/python -m pip install --disable-pip-version-check -q "torch==$(2)" numpy pytest pytest-benchmark \
		expecttest matplotlib scikit-learn tqdm ruff clang-format
	touch $$@
endef
$(eval $(call venv_rule,$(VENV),$(TORCH)))
ifneq ($(BASELINE_VENV),$(VENV))
$(eval $(call venv_rule,$(BASELINE_VENV),$(BASELINE_TORCH)))
endif

deps: $(DEPS_STAMP)

# The model zoos tests/test_zoo.py converts and the report's real models
# run, pinned. timm needs torchvision, which pins torch: it is installed without
# dependencies, in the release built for the torch in use (the CUDA 13.0
# torch 2.14.1; none works with the CPU-only 2.13.0, whose timm tests skip),
# so that pip never swaps torch.
TORCHVISION := $(if $(filter 2.14.1,$(TORCH)),0.29.1,)
ZOO_STAMP := $(VENV)/.zoo-stamp
$(ZOO_STAMP): $(DEPS_STAMP)
	$(PY) -m pip install --disable-pip-version-check -q "transformers==5.23.0"
	$(if $(TORCHVISION),$(PY) -m pip install --disable-pip-version-check -q --no-deps "timm==1.0.31" "torchvision==$(TORCHVISION)")
	touch $@

# The extension is built in place (an editable install), so it is rebuilt
# whenever the sources change or a different torch is asked for.
build: $(DEPS_STAMP)
	@want="$(TORCH) cpu_only=$(ACTIVATIONS_EXT_CPU_ONLY)"; \
	have="$$(cat $(BUILD_STAMP) 2>/dev/null)"; \
	newer="$$(find $(SOURCES) -newer $(BUILD_STAMP) 2>/dev/null | head -1)"; \
	if [ "$$want" != "$$have" ] || [ -n "$$newer" ] || ! ls activations_ext/_C*.so >/dev/null 2>&1; then \
		echo "building activations_ext against torch $(TORCH)"; \
		$(PY) -m pip install --disable-pip-version-check -q --no-build-isolation --no-deps -e . && echo "$$want" > $(BUILD_STAMP); \
	fi

test: build $(ZOO_STAMP)
	$(PY) -m pytest tests -q

# The second torch gets its own private build of the package (bench/baseline.py).
# The report's real models (section 2.9) need the model zoos.
bench: build $(ZOO_STAMP) $(BENCH_BASELINE)
	$(PY) -m bench.report $(if $(QUICK),--quick,) \
		$(if $(BENCH_BASELINE),--baseline-python $(BASELINE_VENV)/bin/python,)

bench-micro: build
	$(PY) -m pytest bench --benchmark-only -q

lint: $(DEPS_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/clang-format --dry-run --Werror $(wildcard csrc/*.h csrc/*.cpp csrc/*/*.h csrc/*/*.cpp csrc/*/*.cu)

format: $(DEPS_STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .
	$(VENV)/bin/clang-format -i $(wildcard csrc/*.h csrc/*.cpp csrc/*/*.h csrc/*/*.cpp csrc/*/*.cu)

clean:
	rm -rf build activations_ext/_C*.so $(BUILD_STAMP) *.egg-info
