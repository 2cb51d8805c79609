# One entry point for people and CI. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(CURDIR)
BUILD := $(ROOT)/.build
VENV := $(ROOT)/.venv
DOCS_VENV := $(BUILD)/venv-docs
EE_VENV := $(BUILD)/venv-ee
IMPORTER_VENV := $(BUILD)/venv-importer
# Debian 12's own Python (3.11): the one a fresh machine has.
PYTHON ?= /usr/bin/python3
RELEASES := $(BUILD)/releases
COLLECTIONS := $(BUILD)/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/beamops/deploy
SANITY_TREE := $(BUILD)/sanity/ansible_collections/beamops/deploy
SCENARIO ?=

export PATH := $(VENV)/bin:$(PATH)
export CONTAINERS_CONF := $(ROOT)/lab/containers.conf
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export BEAMOPS_BUILD_DIR := $(BUILD)
export BEAMOPS_RELEASES_DIR := $(RELEASES)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup apt venv images releases collection unit sanity lint docs-lint galaxy-import molecule test \
        lab-up lab-down demo build clean ssh-key ee ee-check

help:
	@echo "make setup     apt packages, venv, container images, sample releases (idempotent)"
	@echo "make demo      bring the lab up, deploy under live load; reports and timeline in .build/demo"
	@echo "make test      unit + sanity + lint + molecule (what CI runs)"
	@echo "make unit | sanity | lint | docs-lint | galaxy-import | molecule [SCENARIO=name] | lab-up | lab-down | build | clean"
	@echo "make ee | ee-check   the execution environment for AWX/navigator, and a deploy run through it"

setup: apt venv images releases collection ssh-key

apt:
	@scripts/apt-deps.sh

# The venv is rebuilt only when the pinned requirements change.
venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

images:
	@lab/build-images.sh

releases:
	@samples/build.sh $(RELEASES)

# The key the control node reaches the lab with over SSH (never committed).
ssh-key: $(BUILD)/ssh/id_ed25519
$(BUILD)/ssh/id_ed25519:
	@mkdir -p $(dir $@) && chmod 700 $(dir $@)
	ssh-keygen -q -t ed25519 -N "" -C beamops-lab -f $@

# Ansible finds the collection under its FQCN through this link to the work tree.
collection: $(COLLECTION_LINK)
$(COLLECTION_LINK):
	@mkdir -p $(dir $@)
	@ln -sfn $(ROOT) $@

unit: venv collection
	$(VENV)/bin/pytest -q tests/unit
	@scripts/unit-pythons.sh

# ansible-test wants the collection at ansible_collections/<ns>/<name> and a pip bootstrap script
# it would download: give it a copy of the collection's files (the shipped content and tests/;
# the lab, samples and scripts are dev-only and checked by `make lint`) and an offline get-pip.
SANITY_EXCLUDE := ':!lab' ':!samples' ':!scripts' ':!extensions' ':!.ci' ':!ee' ':!benchmarks'
sanity: venv
	@mkdir -p $(HOME)/.ansible/test/cache
	@cp scripts/get_pip_offline.py $(HOME)/.ansible/test/cache/get_pip_24_2.py
	@rm -rf $(SANITY_TREE) && mkdir -p $(SANITY_TREE)
	@git ls-files -co --exclude-standard -z -- . $(SANITY_EXCLUDE) | xargs -0 tar -c --no-recursion | tar -x -C $(SANITY_TREE)
	cd $(SANITY_TREE) && git init -q && git add -A && \
	  ansible-test sanity --venv --python 3.11 --color no

lint: venv collection docs-lint galaxy-import
	ruff check .
	ruff format --check .
	yamllint -s .
	ansible-lint
	antsibull-changelog lint

# antsibull-docs checks the plugin docs' markup and links as docs.ansible.com renders them; its
# pins clash with ansible-lint's, so it has a venv of its own.
docs-lint: $(DOCS_VENV)/.installed collection
	PATH=$(DOCS_VENV)/bin:$$PATH antsibull-docs lint-collection-docs --plugin-docs $(COLLECTION_LINK)
$(DOCS_VENV)/.installed: requirements-docs.txt
	@test -x $(DOCS_VENV)/bin/python || $(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/pip install -q --disable-pip-version-check -r requirements-docs.txt
	@touch $@

# Galaxy's own import of the tarball `make build` makes (ansible-doc, ansible-lint, metadata, changelog),
# without its container-based ansible-test (.config/galaxy-importer.cfg); a venv of its own for its pins.
galaxy-import: $(IMPORTER_VENV)/.installed build
	PATH=$(IMPORTER_VENV)/bin:$$PATH python scripts/galaxy_import.py \
	  $(BUILD)/dist/beamops-deploy-$$(sed -n 's/^version: //p' galaxy.yml).tar.gz $(BUILD)/galaxy-import
$(IMPORTER_VENV)/.installed: requirements-importer.txt
	@test -x $(IMPORTER_VENV)/bin/python || $(PYTHON) -m venv $(IMPORTER_VENV)
	$(IMPORTER_VENV)/bin/pip install -q --disable-pip-version-check -r requirements-importer.txt
	@touch $@

molecule: setup
ifeq ($(SCENARIO),)
	$(VENV)/bin/python scripts/molecule_lanes.py
else
	molecule test -s $(SCENARIO)
endif

# Unit first, alone: some of its tests time real nodes and sockets. Then the checks that need no lab of
# the lanes' in a lane of their own beside the scenarios' two.
test: setup unit
	$(VENV)/bin/python scripts/molecule_lanes.py --also sanity --also lint --also ee-check

# Scenarios share the lab's names: when another scenario removed the containers, forget the
# lab scenario's stale state so that create makes them again.
lab-up: setup
	@podman container exists $${BEAMOPS_LAB:-beamops}-lb || molecule reset -s lab >/dev/null
	molecule create -s lab
	molecule converge -s lab
	@echo "lab up: HAProxy on http://127.0.0.1:18080, admin socket 127.0.0.1:19999; inventory lab/inventory.yml"

lab-down: venv
	molecule destroy -s lab

demo: setup
	@scripts/demo.sh

build: venv
	@mkdir -p $(BUILD)/dist
	ansible-galaxy collection build --force --output-path $(BUILD)/dist

# The execution environment (ee/execution-environment.yml): built offline FROM the lab's base image,
# with the collection from its built tarball. pip inside the build trusts the host's CA bundle.
ee: setup build $(EE_VENV)/.installed
	@mkdir -p $(BUILD)/ee-dist && cp $(BUILD)/dist/beamops-deploy-$$(sed -n 's/^version: //p' galaxy.yml).tar.gz $(BUILD)/ee-dist/beamops-deploy.tar.gz
	@cp "$${PIP_CERT:-$${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}" $(BUILD)/ee-host-ca.crt
	cd ee && $(EE_VENV)/bin/ansible-builder build -f execution-environment.yml -c $(BUILD)/ee-context \
	  --container-runtime podman
$(EE_VENV)/.installed: requirements-ee.txt
	@test -x $(EE_VENV)/bin/python || $(PYTHON) -m venv $(EE_VENV)
	$(EE_VENV)/bin/pip install -q --disable-pip-version-check -r requirements-ee.txt
	@touch $@

# The rolling deploy run from inside the EE (ansible-runner, as AWX runs it) against a lab of its
# own over SSH, under load: fails when a single request fails.
ee-check: ee
	BEAMOPS_RUNNER=$(EE_VENV)/bin/ansible-runner python3 ee/check.py

clean: lab-down
	rm -rf $(BUILD)/sanity $(BUILD)/dist $(BUILD)/samples-work

# Deploy cost beside the floor (raw steps, no Ansible) and a stock playbook, on a lab of its own
# (BEAMOPS_LAB=bench, ports 24080/24999 unless set), under load: .build/bench/bench.{json,md},
# timeline.svg. Not part of `make test` nor CI. NODES=12 for a wider lab, REPEAT runs per variant.
NODES ?= 3
REPEAT ?= 3
.PHONY: bench
bench: setup
	BEAMOPS_LAB=$${BEAMOPS_LAB:-bench} BEAMOPS_LAB_HTTP_PORT=$${BEAMOPS_LAB_HTTP_PORT:-24080} \
	  BEAMOPS_LAB_ADMIN_PORT=$${BEAMOPS_LAB_ADMIN_PORT:-24999} \
	  $(VENV)/bin/python benchmarks/bench.py --nodes $(NODES) --repeat $(REPEAT)
