# One command surface for people, CI and hooks. `make plan` and `make test` do all set-up themselves.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
STACK ?= dev
OUT ?= out

.PHONY: plan plan-all test test-unit services engines check diff bench bench-engine clean crd-schemas

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"pipeworks needs Python 3.11, found {sys.version.split()[0]}"'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[workloads,test]'
	rm -f $(VENV)/.installed-* && touch $@

## Offline plan of one stack (default dev): prints its summary, writes $(OUT)/$(STACK)/
plan: $(STAMP)
	$(VENV)/bin/pipeworks plan $(STACK) --out $(OUT)

plan-all: $(STAMP)
	$(VENV)/bin/pipeworks plan dev --out $(OUT) >/dev/null
	$(VENV)/bin/pipeworks plan prod --out $(OUT) >/dev/null

## The whole test suite, integration tests against real local services and the real-engine e2e included
## (PIPEWORKS_REQUIRE_ENGINES=1 / PIPEWORKS_REQUIRE_SERVICES=1: a missing engine, Kafka broker or Spark jar fails
## the tests that need it instead of skipping them)
test: $(STAMP) services engines
	PIPEWORKS_REQUIRE_ENGINES=1 PIPEWORKS_REQUIRE_SERVICES=1 $(VENV)/bin/python -m pytest

## Only the tests that need no local services (fast feedback)
test-unit: $(STAMP)
	$(VENV)/bin/python -m pytest -m "not integration and not e2e"

## What the tests run besides Python: Ceph mon/mgr/osd/radosgw (RGW harness) and promtool from Debian, the Kafka
## broker and Spark's s3a/Kafka jars from Maven Central (scripts/artifacts/jars.lock, cached in ~/.cache/pipeworks)
services:
	bash scripts/setup-services.sh

## The Pulumi CLI, pulumi-resource-kubernetes, kube-apiserver/controller-manager and etcd, built once per
## machine into ~/.cache/pipeworks/engines (PIPEWORKS_ENGINE_CACHE); a no-op when cached
engines:
	bash scripts/build-engines.sh

## Regenerate tests/schemas/crds/ (structural copy of the CRD schemas the stacks use) from ../shared/crds
crd-schemas: $(STAMP)
	$(VENV)/bin/python scripts/crd_schemas.py

check: $(STAMP)
	$(VENV)/bin/pipeworks check $(STACK)

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/plan_speed.py

bench-engine: $(STAMP) engines
	$(VENV)/bin/python benchmarks/engine.py

clean:
	rm -rf $(OUT) .pytest_cache
