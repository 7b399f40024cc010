# opioidcds developer commands. The two README commands are `make demo` and `make test`;
# each creates .venv and installs everything it needs on a machine with python3 (>= 3.11),
# pip, make and a C compiler.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev
STAMP := $(VENV)/.installed-$(EXTRAS)

.PHONY: demo test lint typecheck unit docs bench fuzz-long clean medplum test-spark-cluster

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

## The library's main job: generate a small SYNTHETIC practice (demo-out/practice/), screen
## it with outcomes from a baseline 26 weeks before, and point to the report (demo-out/).
demo: $(STAMP)
	$(BIN)/opioidcds demo-data --patients 200 --seed 2032 --out demo-out/practice --force
	$(BIN)/opioidcds screen demo-out/practice/issues.csv --patients demo-out/practice/patients.csv \
		--as-of 2026-11-01 --baseline 2026-05-03 --out demo-out --html
	@echo "Open demo-out/report.html in a browser (worklist: demo-out/worklist.csv)."

## The whole test suite: lint, type check, tests (hypothesis derandomised), strict docs build.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest -q
	$(MKDOCS_BUILD)

## Spark on a standalone master and worker on loopback (pyspark's spark-class), the command
## run against it with --master and through spark-submit, outputs compared with `screen`'s
## (tests/population/test_spark_cluster.py, marker spark_cluster; docs/spark.md). About two
## minutes on 2 cores, so not in `make test`; .ci/run runs it after `make test`.
test-spark-cluster: $(STAMP)
	HYPOTHESIS_PROFILE=ci nice -n 10 $(BIN)/python -m pytest -q -m spark_cluster tests/population/test_spark_cluster.py

## The docs site (mkdocs.yml) in site/: strict, so a broken link or anchor, a page missing from
## the nav, a docstring warning, a knowledge file that does not load or an example command that
## exits otherwise than its page says fails the build. NO_MKDOCS_2_WARNING silences Material's
## banner about MkDocs 2 and its own end of life (recorded in docs/safety/third-party.md).
MKDOCS_BUILD = NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site
docs: $(STAMP)
	$(MKDOCS_BUILD)

## The npm packages of the Medplum FHIR test server (tests/cdshooks/test_fetch_medplum.py):
## Node.js >= 20.19 and the npm registry; `npm ci` installs exactly the locked versions.
MEDPLUM_DIR := tests/cdshooks/medplum
medplum: $(MEDPLUM_DIR)/node_modules/.installed
$(MEDPLUM_DIR)/node_modules/.installed: $(MEDPLUM_DIR)/package.json $(MEDPLUM_DIR)/package-lock.json
	cd $(MEDPLUM_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q

## Benchmarks print their figures (not part of `make test`).
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_per_call.py
	$(BIN)/python benchmarks/bench_ome.py
	$(BIN)/python benchmarks/bench_dosage.py
	$(BIN)/python benchmarks/bench_rules.py
	$(BIN)/python benchmarks/bench_check.py
	$(BIN)/python benchmarks/bench_cdshooks.py
	$(BIN)/python benchmarks/bench_population.py

## Longer randomised property runs (not part of `make test`): every test file with a
## Hypothesis property (5,000 fresh random examples each; an hour or more on 2 cores).
PROPERTY_TESTS = $(shell grep -rl --include='*.py' --exclude-dir=node_modules '@given' tests | sort)
test-deep: $(STAMP)
	HYPOTHESIS_PROFILE=deep $(BIN)/python -m pytest -q -p no:cacheprovider $(PROPERTY_TESTS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis site

## --- Safety evidence (docs/safety/; issue 9). None of these is part of `make test`. -------

.PHONY: hazard-log mutation fuzz-atheris

## Regenerate docs/safety/hazard-log.md from docs/safety/hazards.toml.
hazard-log: $(STAMP)
	$(BIN)/python docs/safety/render_hazard_log.py

## Long fuzz run of tests/fuzz with fresh randomness (FUZZ_EXAMPLES examples per test).
FUZZ_EXAMPLES ?= 5000
fuzz-long: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) HYPOTHESIS_PROFILE=dev $(BIN)/python -m pytest -q -p no:cacheprovider tests/fuzz

## Coverage-guided fuzzing with atheris (extra `fuzz`) for FUZZ_SECONDS, from fuzz/corpus.
FUZZ_SECONDS ?= 300
fuzz-atheris:
	$(MAKE) EXTRAS=fuzz $(VENV)/.installed-fuzz
	mkdir -p .fuzz-corpus && cp -n fuzz/corpus/* .fuzz-corpus/
	$(BIN)/python fuzz/fuzz_opioidcds.py -max_total_time=$(FUZZ_SECONDS) .fuzz-corpus

## Mutation testing (extra `mutation`; mutmut config in [tool.mutmut]; record and reviewed
## survivors in docs/safety/mutation.md). MODULES picks the groups: ome (ome, resolve, units),
## dosage, rules, assess, grammar (dosage.lark, scripts/mutate_grammar.py). MUTATION_SAMPLE=D
## (a digit) runs only the mutmut mutants numbered *D (a one-in-ten sample: a full run of
## dosage, rules and assess takes hours on 2 cores); GRAMMAR_SAMPLE=N a seeded random sample of
## N grammar mutants. Runs under nice; not part of `make test`.
MODULES ?= ome dosage rules assess grammar
MUTATION_SAMPLE ?=
GRAMMAR_SAMPLE ?= 0
mutation:
	$(MAKE) EXTRAS=mutation $(VENV)/.installed-mutation
	HYPOTHESIS_PROFILE=ci PYTHONPATH=tests/safety nice -n 10 $(BIN)/python scripts/mutation_run.py \
		--sample "$(MUTATION_SAMPLE)" --grammar-sample $(GRAMMAR_SAMPLE) $(MODULES)
