#!/usr/bin/env bash
# Validation of the Kubernetes manifests, no cluster, no Docker. First offline:
# k8s/tests/check_manifests.py renders k8s/overlays/minikube and gke with
# kustomize, validates every object strictly against the Kubernetes schemas or,
# for custom resources, their operators' own (k8s/schemas/tools.sh), then probes,
# resources, security context, topic catalogue and k6 scripts, PDBs, HPAs; then
# k8s/apiserver/apiserver.sh applies them to a throwaway API server. Prints "ok -"/
# "FAIL -" lines and a summary per step (exit 1 on a FAIL). Tools go in .local.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=../k8s/schemas/tools.sh
source "$ROOT_DIR/k8s/schemas/tools.sh"

BIN=$STATE_DIR/bin
VENV=$STATE_DIR/venv
KUSTOMIZE_VERSION=v5.8.1
KUBERNETES_VALIDATE_VERSION=1.37.0
# Schemas of this Kubernetes release (the newest kubernetes-validate ships).
KUBERNETES_VERSION=1.37.0
OVERLAYS=(minikube gke local)

ensure_kustomize() {
  local have=""
  [ -x "$BIN/kustomize" ] && have=$("$BIN/kustomize" version 2>/dev/null || true)
  [ "$have" = "$KUSTOMIZE_VERSION" ] && return
  command -v go >/dev/null ||
    die "kustomize $KUSTOMIZE_VERSION needs Go >= 1.24 to install (https://go.dev/doc/install), or put kustomize $KUSTOMIZE_VERSION at $BIN/kustomize"
  say "installing kustomize $KUSTOMIZE_VERSION into $BIN (go install; first run only, a few minutes)..."
  mkdir -p "$BIN"
  GOBIN=$BIN go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" ||
    die "go install of kustomize failed"
}

ensure_venv() {
  if [ -x "$VENV/bin/python" ] &&
    [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))' 2>/dev/null)" = "$KUBERNETES_VALIDATE_VERSION" ]; then
    return
  fi
  command -v python3 >/dev/null || die "python3 is required"
  # Debian/Ubuntu ship venv (ensurepip) separately, as python3-venv.
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "installing python3-venv with apt-get..."
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; } >/dev/null ||
        die "apt-get install python3-venv failed"
    else
      die "python3 -m venv is not available: install python3-venv (as root: apt-get install python3-venv)"
    fi
  fi
  say "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into $VENV (pip; first run only)..."
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" ||
    die "pip install kubernetes-validate failed"
}

ensure_kustomize
ensure_venv
ensure_strimzi_crds
ensure_typed_validate

# A crash of the checker prints no FAIL line: its status counts all the same.
"$VENV/bin/python" "$ROOT_DIR/k8s/tests/check_manifests.py" --root "$ROOT_DIR" --kustomize "$BIN/kustomize" \
  --kubernetes-version "$KUBERNETES_VERSION" "${OVERLAYS[@]}"
"$ROOT_DIR/k8s/apiserver/apiserver.sh" "${OVERLAYS[@]}"
