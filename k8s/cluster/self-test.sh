#!/usr/bin/env bash
# The cluster's own check (cluster.sh self-test): starts the cluster, runs a
# Deployment, a Service reached by DNS name, logs, exec, a Job and a
# StatefulSet's volume, stops it and checks nothing is left. "ok"/"FAIL" lines, exit 1 on a
# failure. SELF_TEST_KEEP=1 leaves the cluster running.
set -euo pipefail
# shellcheck source=../../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

HERE=$ROOT_DIR/k8s/cluster
C=$STATE_DIR/cluster
NS=cluster-self-test
passed=0 failed=0

kubectl() { KUBECACHEDIR=$C/kube-cache "$C/kubectl" --kubeconfig="$C/kubeconfig" "$@"; }
check() { # what command...
  local what=$1 out start=$SECONDS
  shift
  if out=$("$@" 2>&1); then
    echo "ok - $what ($((SECONDS - start)) s)"
    passed=$((passed + 1))
  else
    echo "FAIL - $what"
    printf '%s\n' "$out" | tail -5 | sed 's/^/    /'
    failed=$((failed + 1))
  fi
}
# kube-proxy programs a Service's new endpoints within a second or so: retried.
in_pod() {
  local _
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    kubectl -n "$NS" exec deploy/echo -- /echo "$@" && return
    sleep 1
  done
  return 1
}
host_get() {
  local _
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1" &&
      return
    sleep 1
  done
  return 1
}
logs_say() { kubectl -n "$NS" logs deploy/echo | grep -q 'listening on :8080'; }
volume_written() {
  kubectl -n "$NS" wait --for=jsonpath='{.status.phase}'=Bound pvc/data-store-0 --timeout=60s &&
    kubectl -n "$NS" rollout status statefulset/store --timeout=60s &&
    grep -qx store-0 "$C/volumes/$(kubectl get pv "$(kubectl -n "$NS" get pvc data-store-0 \
      -o jsonpath='{.spec.volumeName}')" -o jsonpath='{.spec.hostPath.path}' | xargs basename)/starts"
}

start=$SECONDS
check "cluster up" "$HERE/cluster.sh" up
if [ "$failed" = 0 ]; then
  check "the echo image imported" "$HERE/cluster.sh" import "$STATE_DIR/cluster-images/echo.tar"
  check "the self-test workload applied" kubectl apply -f "$HERE/selftest.yaml"
  check "node Ready" kubectl wait --for=condition=Ready node --all --timeout=10s
  check "CoreDNS Ready (it reads the API server through the kubernetes Service)" \
    kubectl -n kube-system rollout status deployment/coredns --timeout=60s
  check "Deployment echo: 2 replicas Ready" kubectl -n "$NS" rollout status deployment/echo --timeout=120s
  check "exec: a pod reaches the Service by its full name" \
    in_pod get "http://echo.$NS.svc.cluster.local:8080/full"
  check "exec: a pod reaches the Service by its short name" in_pod get http://echo:8080/short
  check "exec: ... and by <service>.<namespace>" in_pod get "http://echo.$NS:8080/namespaced"
  check "exec: kubernetes.default resolves" in_pod lookup kubernetes.default
  check "NodePort 31080 from the host on 127.0.0.1" host_get http://127.0.0.1:31080/nodeport
  check "NodePort 31080 from the host on the node's address" host_get http://10.88.0.1:31080/nodeport
  check "Job lookup completes" kubectl -n "$NS" wait --for=condition=Complete job/lookup --timeout=60s
  check "logs: the echo pod's output" logs_say
  check "StatefulSet store: its claim bound to a volume it writes (uid 999)" volume_written
  if [ "$failed" != 0 ]; then
    kubectl get pods -A -o wide 2>&1 | sed 's/^/    /'
    kubectl get events -A --sort-by=.lastTimestamp 2>&1 | tail -15 | sed 's/^/    /'
  fi
fi
if [ "${SELF_TEST_KEEP:-}" != 1 ]; then
  check "cluster down" "$HERE/cluster.sh" down
  check "nothing left after down" "$HERE/cluster.sh" status
fi
echo "cluster self-test: $passed passed, $failed failed in $((SECONDS - start)) s"
[ "$failed" = 0 ]
