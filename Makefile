# voip.algo — developer entry points.  `make help` lists them.
# The README's two commands are `make example` and `make test`; .ci/run calls `make test`.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

REPO       := $(abspath .)
PYTHON     ?= python3.11
PYTHON312  ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) $(shell command -v python3.12))
REQS       := tests/requirements.txt
REQS312    := tests/requirements-newest.txt
REQSOLD    := tests/requirements-oldest.txt
REQSREL    := tests/requirements-release.txt
CACHE      ?= $(HOME)/.cache/voip.algo
VENV       ?= $(CACHE)/py311-$(shell sha256sum $(REQS) | cut -c1-12)
VENV312    ?= $(CACHE)/py312-$(shell sha256sum $(REQS312) | cut -c1-12)
VENVOLD    ?= $(CACHE)/py311-oldest-$(shell sha256sum $(REQSOLD) | cut -c1-12)
VENVREL    ?= $(CACHE)/release-$(shell sha256sum $(REQSREL) | cut -c1-12)
BUILD      ?= /tmp/voip.algo-build
COLL       := $(BUILD)/ansible_collections/voip/algo
BIN        := $(VENV)/bin
E2E_ARGS   ?=

export ANSIBLE_COLLECTIONS_PATH := $(BUILD)
export ANSIBLE_NOCOLOR := 1
export PATH := $(BIN):$(PATH)

.PHONY: help venv venv312 venv-oldest venv-release pip-shim collection system-deps sanity units integration lint e2e test-newest test-oldest \
        release-check docs test build example demo bench

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

$(VENV)/.done: $(REQS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r $(REQS)
	touch $@

venv: $(VENV)/.done ## Python 3.11 venv with ansible-core 2.19, ansible-lint, pytest (cached by requirements hash)

$(VENV312)/.done: $(REQS312)
	$(PYTHON312) -m venv $(VENV312)
	$(VENV312)/bin/pip install --quiet --upgrade pip
	$(VENV312)/bin/pip install --quiet -r $(REQS312)
	touch $@

venv312: $(VENV312)/.done ## Python 3.12 venv with the newest ansible-core

$(VENVOLD)/.done: $(REQSOLD)
	$(PYTHON) -m venv $(VENVOLD)
	$(VENVOLD)/bin/pip install --quiet --upgrade pip
	$(VENVOLD)/bin/pip install --quiet -r $(REQSOLD)
	touch $@

venv-oldest: $(VENVOLD)/.done ## Python 3.11 venv with the oldest ansible-core of requires_ansible (2.16)

$(VENVREL)/.done: $(REQSREL)
	$(PYTHON) -m venv $(VENVREL)
	$(VENVREL)/bin/pip install --quiet --upgrade pip
	$(VENVREL)/bin/pip install --quiet -r $(REQSREL)
	touch $@

venv-release: $(VENVREL)/.done ## release tooling: galaxy-importer, antsibull-docs/-changelog, ansible-builder/-runner

collection: venv ## copy the working tree to $(COLL), where ansible finds it
	rm -rf $(COLL) && mkdir -p $(COLL)
	git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -x -C $(COLL)
	$(MAKE) --no-print-directory pip-shim SHIM_PYTHON=$(BIN)/python

pip-shim: # ansible-test's get-pip, offline (for the ansible-test of SHIM_PYTHON)
	for v in $$(grep -oP "pip='\K[0-9.]+" $$($(SHIM_PYTHON) -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py); do \
	  mkdir -p $(HOME)/.ansible/test/cache && cp tests/utils/get_pip_shim.py $(HOME)/.ansible/test/cache/get_pip_$${v//./_}.py; done

system-deps: ## install the Debian packages the tests use (root)
	tests/utils/install-system-deps.sh

sanity: collection ## ansible-test sanity, no ignore file
	cd $(COLL) && ansible-test sanity --local --python 3.11 --color no

units: collection ## ansible-test units
	cd $(COLL) && ansible-test units --local --python 3.11 --requirements --color no

integration: collection ## ansible-test integration targets
	cd $(COLL) && ansible-test integration --local --python 3.11 --color no

lint: collection ## ansible-lint, production profile
	cd $(COLL) && ansible-lint --offline --profile production

e2e: collection ## end-to-end tests against real daemons (root)
	cd $(REPO) && $(BIN)/python -m pytest -p no:cacheprovider -ra tests/e2e $(E2E_ARGS)

test-newest: venv312 ## units and integration with the newest ansible-core on Python 3.12
	rm -rf $(BUILD)-312 && mkdir -p $(BUILD)-312/ansible_collections/voip/algo
	git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -x -C $(BUILD)-312/ansible_collections/voip/algo
	$(MAKE) --no-print-directory pip-shim SHIM_PYTHON=$(VENV312)/bin/python
	cd $(BUILD)-312/ansible_collections/voip/algo && \
	  PATH=$(VENV312)/bin:$$PATH ANSIBLE_COLLECTIONS_PATH=$(BUILD)-312 $(VENV312)/bin/ansible --version | sed -n 1p && \
	  PATH=$(VENV312)/bin:$$PATH ANSIBLE_COLLECTIONS_PATH=$(BUILD)-312 ansible-test units --local --python 3.12 --requirements --color no && \
	  PATH=$(VENV312)/bin:$$PATH ANSIBLE_COLLECTIONS_PATH=$(BUILD)-312 ansible-test integration --local --python 3.12 --color no

test-oldest: venv-oldest ## units and integration with the oldest supported ansible-core (2.16) on Python 3.11
	rm -rf $(BUILD)-oldest && mkdir -p $(BUILD)-oldest/ansible_collections/voip/algo
	git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -x -C $(BUILD)-oldest/ansible_collections/voip/algo
	$(MAKE) --no-print-directory pip-shim SHIM_PYTHON=$(VENVOLD)/bin/python
	cd $(BUILD)-oldest/ansible_collections/voip/algo && \
	  PATH=$(VENVOLD)/bin:$$PATH ANSIBLE_COLLECTIONS_PATH=$(BUILD)-oldest $(VENVOLD)/bin/ansible --version | sed -n 1p && \
	  PATH=$(VENVOLD)/bin:$$PATH ANSIBLE_COLLECTIONS_PATH=$(BUILD)-oldest ansible-test units --local --python 3.11 --requirements --color no && \
	  PATH=$(VENVOLD)/bin:$$PATH ANSIBLE_COLLECTIONS_PATH=$(BUILD)-oldest ansible-test integration --local --python 3.11 --color no

DOCSITE := $(BUILD)/docsite
RELEASE := $(BUILD)/release
RELENV  := PATH=$(VENVREL)/bin:$$PATH ANSIBLE_COLLECTIONS_PATH=$(BUILD)

docs: collection venv-release ## the collection's HTML docs with antsibull-docs (offline; fails on any warning)
	rm -rf $(DOCSITE) && mkdir -p $(DOCSITE)
	$(RELENV) antsibull-docs sphinx-init --use-current --dest-dir $(DOCSITE) voip.algo
	$(VENVREL)/bin/python tools/offline_inventory.py $(DOCSITE)
	mkdir -p $(DOCSITE)/rst && chmod og-w $(DOCSITE)/rst
	cd $(DOCSITE) && $(RELENV) antsibull-docs --config-file antsibull-docs.cfg collection --cleanup everything \
	  --use-current --dest-dir rst voip.algo
	cd $(DOCSITE) && $(RELENV) sphinx-build -W --keep-going -q -b html rst build/html -c . 2>&1 | tee $(DOCSITE)/warnings.txt
	@echo "docs: $$(grep -c WARNING $(DOCSITE)/warnings.txt || true) warning(s); $(DOCSITE)/build/html/index.html"

release-check: collection venv-release docs ## Galaxy import, docs lint, changelog, EE introspection, AWX-style job
	$(VENVREL)/bin/python tools/role_readme.py --check
	$(RELENV) antsibull-changelog lint
	$(RELENV) antsibull-docs lint-collection-docs --plugin-docs $(COLL)
	rm -rf $(RELEASE) && mkdir -p $(RELEASE)
	$(RELENV) ansible-galaxy collection build --force --output-path $(RELEASE) $(COLL)
	cd $(RELEASE) && GALAXY_IMPORTER_CONFIG=$(REPO)/tests/release/galaxy-importer.cfg $(RELENV) \
	  python -m galaxy_importer.main $(RELEASE)/voip-algo-*.tar.gz > importer.log 2>&1 || { cat importer.log; exit 1; }
	grep -E "ERROR|Importer processing" $(RELEASE)/importer.log
	! grep -q "ERROR" $(RELEASE)/importer.log
	PATH=$(VENVREL)/bin:$$PATH ANSIBLE_COLLECTIONS_PATH=$(RELEASE)/ee-collections \
	  ansible-galaxy collection install --offline --force -p $(RELEASE)/ee-collections $(RELEASE)/voip-algo-*.tar.gz
	PATH=$(VENVREL)/bin:$$PATH ansible-builder introspect --sanitize $(RELEASE)/ee-collections | tee $(RELEASE)/introspect.txt
	grep -q "libpass" $(RELEASE)/introspect.txt && grep -q "openssh-client" $(RELEASE)/introspect.txt
	$(RELENV) ansible-builder create -f examples/execution-environment/execution-environment.yml -c $(RELEASE)/ee-context
	test -f $(RELEASE)/ee-context/Dockerfile
	$(RELENV) python -m pytest -p no:cacheprovider -ra -s tests/release

test: system-deps sanity units integration lint e2e test-newest test-oldest release-check ## everything CI runs
	@echo "make test: all stages passed"

build: collection ## ansible-galaxy collection build
	cd $(COLL) && ansible-galaxy collection build --force --output-path $(BUILD)

example: collection ## render the bundled example fleet into examples/out
	cd $(REPO) && ansible-playbook -i localhost, -c local -e 'ansible_python_interpreter=$(BIN)/python' examples/fleet.yml

demo: collection ## serve the example fleet on 127.0.0.1 with real daemons and boot virtual devices from it (root)
	cd $(REPO) && ansible-playbook -i localhost, -c local -e 'ansible_python_interpreter=$(BIN)/python' examples/demo.yml

bench: collection ## benchmarks (results go to the README by hand)
	cd $(REPO) && $(BIN)/python bench/bench_provisioning_files.py
	cd $(REPO) && $(BIN)/python bench/bench_check_sync.py
