#!/usr/bin/env bash
# `make cluster-test`: the saga on the local single-node cluster. Builds the
# images (k8s/images/build.sh) and loadgen (release; sagactl runs as Jobs of
# its image), starts the cluster unless it runs (and then stops it again),
# imports the images, and runs
# k8s/tests/cluster_e2e.py against the local overlay. The scaling table goes to
# $STATE_DIR/cluster-scaling.md. Prints ok/FAIL lines; exits 1 on a FAIL.
set -euo pipefail
# shellcheck source=../../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

CLUSTER=$ROOT_DIR/k8s/cluster/cluster.sh
ROLLOUT_IMAGE=docker.io/saga/order-service:local-rollout

"$ROOT_DIR/k8s/images/build.sh"
say "cargo build --release -p loadgen (the load, from this host)"
cargo build --release --quiet -p loadgen

started=0
if ! "$CLUSTER" running; then
  "$CLUSTER" up
  started=1
fi
cleanup() { if [ $started = 1 ]; then "$CLUSTER" down; fi; }
trap cleanup EXIT
"$CLUSTER" import "$STATE_DIR"/images/*.tar
# The rollout under load needs a new tag: the same image, so only the rollout is measured.
"$CLUSTER" tag docker.io/saga/order-service:local "$ROLLOUT_IMAGE"

start=$SECONDS
KUBECONFIG=$STATE_DIR/cluster/kubeconfig KUBECACHEDIR=$STATE_DIR/cluster/kube-cache \
  python3 "$ROOT_DIR/k8s/tests/cluster_e2e.py" --root "$ROOT_DIR" --kubectl "$STATE_DIR/cluster/kubectl" \
  --bin-dir "$ROOT_DIR/target/release" --rollout-image "$ROLLOUT_IMAGE" --table "$STATE_DIR/cluster-scaling.md"
say "the cluster suite took $((SECONDS - start)) s"
