#!/usr/bin/env bash
# A throwaway single-node Kubernetes cluster on this machine, every program
# built from the pins in k8s/apiserver/go.mod or installed from Debian:
#   cluster.sh up             etcd, API server, scheduler, controller manager,
#                             containerd, kubelet, kube-proxy, CoreDNS; waits until ready
#   cluster.sh down           stops all of it, leaves no process, mount, netns,
#                             bridge, iptables chain or cgroup of ours (checked)
#   cluster.sh status         what runs, or what is left over
#   cluster.sh import ARCHIVE...  OCI archives (k8s/images/oci.sh) into the node's containerd
#   cluster.sh tag SOURCE TARGET  an imported image under another name
#   cluster.sh running        exits 0 when every part of the cluster runs
#   cluster.sh self-test      up, a Deployment, Services by DNS name and NodePort, logs,
#                             exec, a Job, a StatefulSet's volume, down (self-test.sh)
# Needs root (namespaces, mounts, iptables). Everything is under $STATE_DIR/cluster;
# kubectl: $STATE_DIR/cluster/kubectl, KUBECONFIG=$STATE_DIR/cluster/kubeconfig.
set -euo pipefail
# shellcheck source=../../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
# shellcheck source=../apiserver/binaries.sh
source "$ROOT_DIR/k8s/apiserver/binaries.sh"
# shellcheck source=../images/oci.sh
source "$ROOT_DIR/k8s/images/oci.sh"

HERE=$ROOT_DIR/k8s/cluster
C=$STATE_DIR/cluster
PKI=$C/pki
IMAGES=$STATE_DIR/cluster-images # built images, kept across down/up
NFT_BEFORE=$STATE_DIR/cluster-nft-tables.before # the host's nftables tables before up
# Host paths the programs use whatever they are told (the kubelet's device-plugins
# socket, libcni's cache, containerd's netns mounts); down removes those up created.
HOST_DIRS="/var/lib/kubelet /var/lib/cni /run/netns"
HOST_DIRS_MADE=$STATE_DIR/cluster-host-dirs.made
SOCK=$C/containerd/containerd.sock
NODE=saga-node
BRIDGE=saga0
NODE_IP=10.88.0.1 # the bridge's: the kubelet refuses a loopback address
POD_CIDR=10.88.0.0/16
SERVICE_CIDR=10.96.0.0/16
DNS_IP=10.96.0.10
API_PORT=6443
API=https://$NODE_IP:$API_PORT
COREDNS_VERSION=$(sed -n 's#^require github.com/coredns/coredns v##p' "$HERE/coredns/go.mod")
PAUSE_IMAGE=docker.io/saga/pause:local
COREDNS_IMAGE=docker.io/saga/coredns:$COREDNS_VERSION-local
ECHO_IMAGE=docker.io/saga/echo:local
COMPONENTS="etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy"
# Kernel settings up changes (the kubelet too) and down puts back.
SYSCTLS="net/ipv4/ip_forward net/bridge/bridge-nf-call-iptables net/ipv4/conf/all/route_localnet
vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys
kernel/keys/root_maxbytes net/netfilter/nf_conntrack_max"

# kubectl's discovery cache stays with the cluster, not in ~/.kube.
kubectl() { KUBECACHEDIR=$C/kube-cache "$C/kubectl" --kubeconfig="$C/kubeconfig" "$@"; }
ctr_() { ctr --address "$SOCK" -n k8s.io "$@"; }
running() { pid_of "cluster-$1" "$C/" >/dev/null; }

# Starts NAME in the background, its output in $C/logs/NAME.log.
launch() { # name command...
  local name=$1
  shift
  "$@" >"$C/logs/$name.log" 2>&1 &
  echo "$!" >"$RUN_DIR/cluster-$name.pid"
}

wait_for() { # seconds what command...
  local seconds=$1 what=$2 i
  shift 2
  for ((i = 0; i < seconds * 5; i++)); do
    "$@" >/dev/null 2>&1 && return
    sleep 0.2
  done
  die "$what not ready after $seconds s; logs in $C/logs"
}

preflight() {
  [ "$(id -u)" = 0 ] || die "the cluster needs root (network namespaces, mounts, iptables, cgroups)"
  command -v go >/dev/null || die "the cluster needs Go to build Kubernetes (https://go.dev/doc/install)"
  local missing=() pair
  for pair in runc:runc containerd:containerd ctr:containerd /usr/lib/cni/bridge:containernetworking-plugins \
    iptables:iptables nft:nftables umoci:umoci openssl:openssl ip:iproute2; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } \
      >"$LOG_DIR/cluster-apt.log" 2>&1 ||
      die "apt-get install ${missing[*]} failed: see $LOG_DIR/cluster-apt.log"
  fi
  [ -d /sys/fs/cgroup/memory ] || [ -f /sys/fs/cgroup/cgroup.controllers ] ||
    die "no cgroups mounted under /sys/fs/cgroup (the kubelet needs the memory, cpu and pids controllers)"
  unshare --net --mount --pid --ipc --uts --fork true 2>/dev/null ||
    die "cannot create network, mount, PID, IPC and UTS namespaces here (what every pod gets)"
  [ -d /proc/sys/net/bridge ] || modprobe br_netfilter 2>/dev/null ||
    die "no bridge netfilter (net/bridge sysctls): Services need br_netfilter"
}

# --- images ----------------------------------------------------------------

# build_image NAME REF DIR PACKAGE ENTRYPOINT: a static Go program as the
# image's only file, rebuilt when its module changes.
build_image() {
  local name=$1 ref=$2 dir=$3 package=$4 entry=$5 sum work
  sum=$(cd "$dir" && { cat go.mod go.sum ./*.go ./*/*.go 2>/dev/null || true; } | sha256sum | cut -c1-16)
  [ -f "$IMAGES/$name.tar" ] && [ "$(cat "$IMAGES/$name.sum" 2>/dev/null)" = "$sum:$ref" ] && return
  say "building image $ref"
  work=$(mktemp -d)
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$work/rootfs/$entry" "$package") ||
    { rm -rf "$work"; die "go build of $name failed"; }
  oci_image "$ref" "$work/rootfs" "$IMAGES/$name.tar" --config.entrypoint="/$entry" ||
    { rm -rf "$work"; die "image $ref failed"; }
  rm -rf "$work"
  echo "$sum:$ref" >"$IMAGES/$name.sum"
}

ensure_images() {
  mkdir -p "$IMAGES"
  build_image pause "$PAUSE_IMAGE" "$HERE/images" ./pause pause
  build_image echo "$ECHO_IMAGE" "$HERE/images" ./echo echo
  build_image coredns "$COREDNS_IMAGE" "$HERE/coredns" . coredns
}

import() {
  local archive
  for archive in "$@"; do
    [ -f "$archive" ] || die "no such archive: $archive"
    ctr_ images import "$archive" >/dev/null || die "importing $archive failed"
    echo "imported $(tar -xOf "$archive" ./index.json | grep -o '"io.containerd.image.name": *"[^"]*"' | cut -d'"' -f4)"
  done
}

# --- certificates, tokens, kubeconfigs --------------------------------------

cert() { # name subject extensions: a key and a certificate signed by our CA
  local name=$1
  printf '%s\n' "$3" >"$PKI/$name.ext"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -subj "$2" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 30 \
    -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null || die "signing the $name certificate failed"
}

kubeconfig() { # file user token
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: saga, cluster: {server: "$API", certificate-authority: "$PKI/ca.crt"}}]
users: [{name: "$2", user: {token: "$3"}}]
contexts: [{name: saga, context: {cluster: saga, user: "$2"}}]
current-context: saga
EOF
}

credentials() {
  mkdir -p "$PKI"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 30 \
    -subj /CN=saga-cluster-ca 2>/dev/null
  cert apiserver /CN=kube-apiserver "extendedKeyUsage=serverAuth
subjectAltName=IP:$NODE_IP,IP:${SERVICE_CIDR%.0/*}.1,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  # The API server's identity at the kubelet (logs, exec): an administrator.
  cert apiserver-kubelet-client /O=system:masters/CN=kube-apiserver-kubelet-client extendedKeyUsage=clientAuth
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  # The users the default RBAC policy and the Node authorizer know.
  : >"$PKI/tokens.csv"
  mkdir -p "$C/auth"
  user admin admin system:masters
  user kube-scheduler system:kube-scheduler
  user kube-controller-manager system:kube-controller-manager
  user kube-proxy system:kube-proxy
  user kubelet "system:node:$NODE" system:nodes
  chmod 600 "$PKI"/*.key "$PKI/tokens.csv" "$C"/auth/*
  ln -s auth/admin.kubeconfig "$C/kubeconfig"
}

user() { # component user [group]: a token in tokens.csv, a kubeconfig in auth/
  local token
  token=$(openssl rand -hex 16)
  kubeconfig "$C/auth/$1.kubeconfig" "$2" "$token"
  echo "$token,$2,$2${3:+,\"$3\"}" >>"$PKI/tokens.csv"
}

# --- host networking and kernel settings ------------------------------------

host_setup() {
  local key
  : >"$C/sysctl.saved"
  for key in $SYSCTLS; do
    [ -f "/proc/sys/$key" ] && echo "$key $(cat "/proc/sys/$key")" >>"$C/sysctl.saved"
  done
  nft list tables 2>/dev/null >"$NFT_BEFORE" || true
  for key in $HOST_DIRS; do [ -e "$key" ] || echo "$key"; done >"$HOST_DIRS_MADE"
  echo 1 >/proc/sys/net/ipv4/ip_forward
  echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables # Services between pods on the bridge
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
  ip addr replace "$NODE_IP/${POD_CIDR#*/}" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

# --- up ---------------------------------------------------------------------

write_configs() {
  mkdir -p "$C/containerd" "$C/cni" "$C/logs" "$C/volumes"
  cat >"$C/containerd/config.toml" <<EOF
version = 2
root = "$C/containerd/root"
state = "$C/containerd/state"
[grpc]
  address = "$SOCK"
[plugins."io.containerd.internal.v1.opt"]
  path = "$C/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # runc lacks CAP_SYS_RESOURCE here: lowering its own oom_score_adj fails.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$C/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$C/cni"
EOF
  # containerd adds the loopback interface itself (the loopback plugin, from bin_dir).
  cat >"$C/cni/10-saga.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "saga", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$C/cni-ipam", "routes": [{"dst": "0.0.0.0/0"}],
            "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
EOF
  cat >"$C/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$SOCK
cgroupDriver: cgroupfs
# This machine has cgroups v1, which the kubelet refuses unless told.
failCgroupV1: false
failSwapOn: false
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
clusterDNS: [$DNS_IP]
clusterDomain: cluster.local
podLogsDir: $C/pod-logs
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
# A shared build machine's disk: no eviction over free space.
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
serializeImagePulls: false
EOF
  cat >"$C/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE
clientConnection: {kubeconfig: $C/auth/kube-proxy.kubeconfig}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
# NodePorts on the node's address and loopback only, not on the host's other interfaces.
nodePortAddresses: [$NODE_IP/32, 127.0.0.0/8]
# The host's conntrack limits and timeouts stay as they are.
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
}

start_control_plane() {
  local etcd_port peer_port
  etcd_port=$(free_port) peer_port=$(free_port)
  require_free_port "$API_PORT" kube-apiserver
  start_etcd "$C" "$etcd_port" "$peer_port"
  echo "$!" >"$RUN_DIR/cluster-etcd.pid"
  # Advertised on the bridge, so the kubernetes Service's endpoint is reachable from pods.
  launch kube-apiserver "$K8S_BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port="$API_PORT" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" --client-ca-file="$PKI/ca.crt" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key" --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --token-auth-file="$PKI/tokens.csv" --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true
  wait_for 90 "the API server" kubectl get --raw /readyz
  launch kube-controller-manager "$K8S_BIN/kube-controller-manager" --kubeconfig="$C/auth/kube-controller-manager.kubeconfig" \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --use-service-account-credentials=true --cluster-signing-cert-file="$PKI/ca.crt" \
    --cluster-signing-key-file="$PKI/ca.key" --leader-elect=false --secure-port=0
  launch kube-scheduler "$K8S_BIN/kube-scheduler" --kubeconfig="$C/auth/kube-scheduler.kubeconfig" --leader-elect=false \
    --secure-port=0
}

start_node() {
  launch containerd containerd --config "$C/containerd/config.toml"
  wait_for 30 containerd ctr_ version
  import "$IMAGES/pause.tar" "$IMAGES/coredns.tar"
  launch kubelet "$K8S_BIN/kubelet" --config="$C/kubelet.yaml" --kubeconfig="$C/auth/kubelet.kubeconfig" \
    --root-dir="$C/kubelet" --cert-dir="$C/kubelet/pki" --node-ip="$NODE_IP" --hostname-override="$NODE"
  launch kube-proxy "$K8S_BIN/kube-proxy" --config="$C/kube-proxy.yaml"
}

# A default StorageClass and hostPath volumes for it: claims bind to them
# (no provisioner). World-writable, as fsGroup does not apply to hostPath.
storage() {
  local i
  {
    cat <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Retain
EOF
    for i in 1 2 3 4 5 6; do
      mkdir -p "$C/volumes/pv$i" && chmod 0777 "$C/volumes/pv$i"
      cat <<EOF
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: local-pv$i}
spec:
  storageClassName: local
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  hostPath: {path: $C/volumes/pv$i, type: Directory}
EOF
    done
  } | kubectl apply -f - >/dev/null
}

up() {
  local start=$SECONDS state
  preflight
  state=$(components_running)
  if [ "$state" = all ]; then
    say "the cluster is already running (KUBECONFIG=$C/kubeconfig)"
    return 0
  fi
  # A part running, or what a crash left: cleaned up first.
  [ "$state" = none ] || say "a part of the cluster runs: stopping it first"
  [ "$state" = none ] && [ ! -d "$C" ] || down
  ! ip link show "$BRIDGE" >/dev/null 2>&1 ||
    die "the bridge $BRIDGE exists and is not this checkout's (another checkout's cluster?); if nothing uses it: ip link delete $BRIDGE"
  ensure_binaries node
  ensure_images
  rm -rf "$C" && mkdir -p "$C/logs"
  ln -s "$K8S_BIN/kubectl" "$C/kubectl"
  host_setup
  write_configs
  credentials
  start_control_plane
  start_node
  storage
  sed "s#@COREDNS_IMAGE@#$COREDNS_IMAGE#; s#@DNS_IP@#$DNS_IP#" "$HERE/coredns.yaml" | kubectl apply -f - >/dev/null
  wait_for 120 "the node $NODE" kubectl wait --for=condition=Ready "node/$NODE" --timeout=1s
  kubectl -n kube-system rollout status deployment/coredns --timeout=120s >/dev/null ||
    die "CoreDNS is not ready: kubectl -n kube-system describe pods -l k8s-app=kube-dns"
  say "cluster up in $((SECONDS - start)) s: node $NODE Ready, CoreDNS Ready at $DNS_IP"
  echo "  export KUBECONFIG=$C/kubeconfig; kubectl: $C/kubectl"
  echo "  API server $API; logs in $C/logs; import images with k8s/cluster/cluster.sh import ARCHIVE"
}

# all, none or some
components_running() {
  local name n=0 total=0
  for name in $COMPONENTS; do
    total=$((total + 1))
    running "$name" && n=$((n + 1))
  done
  if [ "$n" = "$total" ]; then echo all; elif [ "$n" = 0 ]; then echo none; else echo some; fi
}

# --- down -------------------------------------------------------------------

# Processes in our pods' cgroups (containers) and our containerd's shims.
pod_pids() {
  cat /sys/fs/cgroup/pids/kubepods/cgroup.procs /sys/fs/cgroup/pids/kubepods/*/cgroup.procs \
    /sys/fs/cgroup/pids/kubepods/*/*/cgroup.procs /sys/fs/cgroup/pids/kubepods/*/*/*/cgroup.procs \
    /sys/fs/cgroup/kubepods/cgroup.procs 2>/dev/null || true
  grep -l -a -F "$SOCK" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 || true
}

# Ours: in our pods' cgroups or naming our directory (not grep itself, gone by then).
our_processes() {
  { pod_pids; grep -l -a -F "$C/" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3; } | sort -un |
    while read -r pid; do [ -d "/proc/$pid" ] && [ "$pid" != $$ ] && echo "$pid"; done || true
}

our_mounts() { awk -v c="$C/" 'index($5, c) == 1 { print $5 }' /proc/self/mountinfo; }

# Deletes every KUBE-* and CNI-* chain and the rules that jump to them.
iptables_cleanup() {
  local tool table
  for tool in iptables ip6tables; do
    command -v "$tool-save" >/dev/null || continue
    for table in filter nat mangle raw; do
      "$tool-save" -t "$table" 2>/dev/null | awk -v t="$table" '
        /^:(KUBE|CNI)-/ { chains[++n] = substr($1, 2) }
        /^-A / && / -j (KUBE|CNI)-/ && !/^-A (KUBE|CNI)-/ { sub(/^-A/, "-D"); rules[++m] = $0 }
        END {
          if (n + m == 0) exit
          print "*" t
          for (i = 1; i <= m; i++) print rules[i]
          for (i = 1; i <= n; i++) print "-F " chains[i]
          for (i = 1; i <= n; i++) print "-X " chains[i]
          print "COMMIT"
        }' | "$tool-restore" --noflush || warn "$tool: could not delete every chain of ours in $table"
    done
  done
  # Tables made since up (iptables-nft's, kube-proxy's) and now without rules.
  local family name
  nft list tables 2>/dev/null | while read -r _ family name; do
    grep -qx "table $family $name" "$NFT_BEFORE" 2>/dev/null && continue
    case $family in ip) tool=iptables ;; ip6) tool=ip6tables ;; *) continue ;; esac
    [ "$name" != kube-proxy ] && "$tool-save" -t "$name" 2>/dev/null | grep -q '^-A ' && continue
    nft delete table "$family" "$name" 2>/dev/null || true
  done
}

down() {
  local name pid i
  [ -d "$C" ] || { say "no cluster here"; check_clean; return; }
  [ "$(id -u)" = 0 ] || die "stopping the cluster needs root"
  K8S_BIN=$(dirname "$(readlink "$C/kubectl" 2>/dev/null || echo /nonexistent/kubectl)")
  # Gracefully first: with the controllers gone nothing comes back, and the
  # kubelet tears each pod down (network, volumes) as on a real node.
  if running kube-apiserver && running kubelet && kubectl get --raw /readyz >/dev/null 2>&1; then
    stop_together KILL kube-controller-manager kube-scheduler
    kubectl delete pods --all --all-namespaces --force --grace-period=0 --wait=false >/dev/null 2>&1 || true
    for ((i = 0; i < 150; i++)); do
      [ -z "$(ls "$C/kubelet/pods" 2>/dev/null)" ] && [ -z "$(ctr_ tasks ls -q 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  stop_together TERM kubelet kube-proxy kube-controller-manager kube-scheduler
  # Their data is thrown away, and a terminated API server may wait on etcd.
  stop_together KILL kube-apiserver etcd
  # Whatever the kubelet did not stop: the containers, then containerd and its shims.
  for pid in $(pod_pids); do kill -KILL "$pid" 2>/dev/null || true; done
  stop_together TERM containerd
  for pid in $(our_processes); do kill -KILL "$pid" 2>/dev/null || true; done
  sleep 0.2
  [ -x "$K8S_BIN/kube-proxy" ] && timeout 30 "$K8S_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  our_mounts | sort -r | while read -r mount; do umount "$mount" 2>/dev/null || umount -l "$mount" || true; done
  # Network namespaces the kubelet did not tear down: those our sandboxes used.
  for name in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^cni-'); do
    grep -rqs "$name" "$C/containerd/root/io.containerd.metadata.v1.bolt" && ip netns delete "$name"
  done
  # The sockets of shims killed above (a shim removes its own when it exits).
  for name in "$C"/containerd/state/io.containerd.runtime.v2.task/k8s.io/*/address; do
    [ -f "$name" ] && rm -f "$(sed 's#^unix://##' "$name")"
  done
  # libcni's cache of results, per network and sandbox (when the kubelet did not tear them down).
  rm -f /var/lib/cni/results/saga-* /var/lib/kubelet/device-plugins/kubelet.sock
  for name in "$C"/containerd/state/io.containerd.grpc.v1.cri/sandboxes/*; do
    rm -f /var/lib/cni/results/*-"${name##*/}"-*
  done
  [ -f "$HOST_DIRS_MADE" ] && while read -r dir; do
    if [ -d "$dir" ]; then find "$dir" -depth -type d -empty -delete; fi
  done <"$HOST_DIRS_MADE"
  iptables_cleanup
  ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE"
  for i in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$i" ] && find "$i" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  [ -f "$C/sysctl.saved" ] && while read -r key value; do
    echo "$value" >"/proc/sys/$key" 2>/dev/null || true
  done <"$C/sysctl.saved"
  [ -z "$(our_mounts)" ] && rm -rf "$C"
  rm -f "$RUN_DIR"/cluster-*.pid
  say "cluster stopped"
  check_clean
}

# stop_together SIGNAL NAME...: the signal to each component named, SIGKILL to
# those alive 10 s later.
stop_together() {
  local signal=$1 name pid pids=() i
  shift
  for name in "$@"; do
    pid=$(pid_of "cluster-$name" "$C/") && kill "-$signal" "$pid" 2>/dev/null && pids+=("$pid")
    rm -f "$RUN_DIR/cluster-$name.pid"
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  for ((i = 0; i < 100; i++)); do
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && break; done || return 0
    sleep 0.1
  done
  warn "killing $* (not stopped within 10 s)"
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

# Names whatever of ours is left; true when nothing is.
check_clean() {
  local left=() pids mounts file
  pids=$(our_processes | tr '\n' ' ')
  [ -n "$pids" ] && left+=("processes: $pids")
  mounts=$(our_mounts | head -5 | tr '\n' ' ')
  [ -n "$mounts" ] && left+=("mounts: $mounts")
  for file in "$C"/containerd/state/io.containerd.runtime.v2.task/k8s.io/*/address; do
    [ -f "$file" ] && [ -S "$(sed 's#^unix://##' "$file")" ] && left+=("the shim socket $(cat "$file")")
  done
  ip link show "$BRIDGE" >/dev/null 2>&1 && left+=("the bridge $BRIDGE")
  [ -n "$(ip link show type veth 2>/dev/null | grep -w "master $BRIDGE")" ] && left+=("veth interfaces on $BRIDGE")
  [ -n "$( (iptables-save; ip6tables-save) 2>/dev/null | grep -E 'KUBE|CNI')" ] && left+=("iptables chains KUBE-*/CNI-*")
  compgen -G '/sys/fs/cgroup/*/kubepods' >/dev/null || [ -d /sys/fs/cgroup/kubepods ] && left+=("kubepods cgroups")
  [ -n "$(nft list tables 2>/dev/null | grep -vxFf "$NFT_BEFORE" 2>/dev/null)" ] &&
    left+=("nftables tables: $(nft list tables | grep -vxFf "$NFT_BEFORE" | tr '\n' ' ')")
  ip netns list 2>/dev/null | grep -q '^cni-' && left+=("network namespaces cni-*")
  [ -d "$C" ] && left+=("the directory $C")
  [ -f "$HOST_DIRS_MADE" ] && while read -r dir; do
    if [ -e "$dir" ]; then left+=("$dir (up made it)"); fi
  done <"$HOST_DIRS_MADE"
  if [ ${#left[@]} = 0 ]; then
    echo "nothing left: no process, mount, bridge, veth, iptables chain, cgroup or directory of the cluster"
    return 0
  fi
  printf 'left over: %s\n' "${left[@]}"
  return 1
}

status() {
  local name
  case $(components_running) in
  none) say "the cluster is not running"; check_clean ;;
  *)
    for name in $COMPONENTS; do
      if running "$name"; then echo "$name: running"; else echo "$name: stopped"; fi
    done
    kubectl get nodes -o wide 2>/dev/null || true
    echo "KUBECONFIG=$C/kubeconfig kubectl: $C/kubectl"
    ;;
  esac
}

case ${1:-} in
up) up ;;
down) down ;;
status) status ;;
import)
  shift
  running containerd || die "the cluster is not running (k8s/cluster/cluster.sh up)"
  import "$@"
  ;;
tag) # SOURCE TARGET: the same image under another name (a new tag to roll out)
  running containerd || die "the cluster is not running (k8s/cluster/cluster.sh up)"
  ctr_ images tag --force "${2:?usage: $0 tag SOURCE TARGET}" "${3:?usage: $0 tag SOURCE TARGET}" >/dev/null
  ;;
running) [ "$(components_running)" = all ] ;; # exit status only
self-test) exec "$HERE/self-test.sh" ;;
*) die "usage: $0 up|down|status|running|import ARCHIVE...|tag SOURCE TARGET|self-test" ;;
esac
