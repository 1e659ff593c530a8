# shellcheck shell=bash
# Kubernetes' programs, built from the Go modules pinned in k8s/apiserver/go.mod,
# and an etcd started from them. Sourced (after scripts/lib.sh) by
# k8s/apiserver/apiserver.sh and k8s/cluster/cluster.sh.

K8S_SRC=$ROOT_DIR/k8s/apiserver

# etcd, kube-apiserver, kubectl and controller-gen under $K8S_BIN (exported),
# rebuilt only when the pins (go.mod, go.sum of both modules) or etcd's main
# change; with "node", also kubelet, kube-scheduler, kube-controller-manager
# and kube-proxy (a cluster's, not the API server check's).
ensure_binaries() {
  local version sum start=$SECONDS bin=$STATE_DIR/bin
  version=$(cd "$K8S_SRC" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
  K8S_BIN=$bin/k8s-$version
  sum=$(cat "$K8S_SRC"/go.mod "$K8S_SRC"/go.sum "$K8S_SRC"/etcd/main.go "$K8S_SRC"/crdgen/go.mod \
    "$K8S_SRC"/crdgen/go.sum | sha256sum | cut -c1-16)
  if [ "$(cat "$K8S_BIN/.sum" 2>/dev/null)" != "$sum" ]; then
    say "building etcd, kube-apiserver, kubectl $version and controller-gen into $K8S_BIN" \
      "(go build; first run only, 4 to 8 min on 2 cores)..."
    rm -rf "$bin"/k8s-* && mkdir -p "$K8S_BIN" # older versions go
    k8s_build "$version" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl ./etcd
    (cd "$K8S_SRC/crdgen" && go build -o "$K8S_BIN/" sigs.k8s.io/controller-tools/cmd/controller-gen) ||
      die "go build of controller-gen failed"
    echo "$sum" >"$K8S_BIN/.sum"
    say "Kubernetes $version binaries built in $((SECONDS - start)) s"
  fi
  if [ "${1:-}" = node ] && [ "$(cat "$K8S_BIN/.sum-node" 2>/dev/null)" != "$sum" ]; then
    start=$SECONDS
    say "building kubelet, kube-scheduler, kube-controller-manager, kube-proxy $version into $K8S_BIN" \
      "(go build; first run only, 2 to 4 min on 2 cores)..."
    k8s_build "$version" k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-scheduler \
      k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-proxy
    echo "$sum" >"$K8S_BIN/.sum-node"
    say "kubelet and the other node programs built in $((SECONDS - start)) s"
  fi
  export K8S_BIN
}

k8s_build() { # version package...
  local version=$1
  shift
  # kubectl refuses a server whose version it cannot parse: stamp the release.
  (cd "$K8S_SRC" && go build -ldflags "-X k8s.io/component-base/version.gitVersion=$version" \
    -o "$K8S_BIN/" "$@") || die "go build of Kubernetes $version ($*) failed"
}

# start_etcd DIR CLIENT_PORT PEER_PORT: a single-member etcd on loopback with its
# data in DIR/etcd, in the background ($! its pid); no fsync, the data is throwaway.
start_etcd() {
  local dir=$1 port=$2 peer=$3
  "$K8S_BIN/etcd" --name=etcd --data-dir="$dir/etcd" --unsafe-no-fsync --log-level=error \
    --listen-client-urls="http://127.0.0.1:$port" --advertise-client-urls="http://127.0.0.1:$port" \
    --listen-peer-urls="http://127.0.0.1:$peer" --initial-advertise-peer-urls="http://127.0.0.1:$peer" \
    --initial-cluster="etcd=http://127.0.0.1:$peer" >"$dir/etcd.log" 2>&1 &
}
