# Thin entry points; the logic lives in scripts/ and kafka-setup/.
.PHONY: run up down status test load bench chaos fmt images cluster-up cluster-down cluster-status cluster-test

run: ## provision, build, start everything, wait until ready, print where things are
	@scripts/run.sh

up: ## start Postgres, Kafka and the three services in the background
	@scripts/stack.sh up

down: ## stop what this checkout started (data kept in .local/)
	@scripts/stack.sh down

status:
	@scripts/stack.sh status

test: ## fmt, clippy, unit + integration tests on the real stack, smoke checks
	@scripts/test.sh

load: ## k6 against the local stack: make load [K6_SCRIPT=saga.js] [K6_QUICK=1]
	@scripts/load.sh

bench: ## benchmark: machine limits, a ladder of rates, sustainable sagas/s (release build; BENCH_QUICK=1 for a tiny run)
	@scripts/bench.sh

chaos: ## fault-injection suite: 8 scenarios under load, one audited row each
	@scripts/chaos.sh

fmt:
	@cargo fmt --all

images: ## OCI archives for a local cluster, no Docker or registry (as root): make images [IMAGES="kafka k6"]
	@k8s/images/build.sh $(IMAGES)

cluster-up: ## a throwaway single-node Kubernetes cluster on this machine (root; k8s/README.md)
	@k8s/cluster/cluster.sh up

cluster-down: ## stop it, leaving nothing behind
	@k8s/cluster/cluster.sh down

cluster-status:
	@k8s/cluster/cluster.sh status

cluster-test: ## the saga on that cluster: images, the local overlay, scaling, pod deletions, a rollout, k6 (root)
	@k8s/cluster/e2e.sh
