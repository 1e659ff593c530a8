#!/usr/bin/env bash
# OCI images made from a directory, without Docker or a registry (umoci, from
# Debian). Sourced by the scripts that build our images; the cluster imports the
# archives into containerd (`ctr -n k8s.io images import ARCHIVE`).

# oci_image REF ROOTFS ARCHIVE [umoci config options...]
#   REF      the full name the cluster will know it by (docker.io/saga/order-service:local):
#            kept in the archive's index, so `ctr images import` needs no --base-name
#   ROOTFS   a directory that becomes the image's one layer, owners and modes kept
#   ARCHIVE  the OCI archive (a tar of an OCI layout) to write
#   then umoci config options: --config.entrypoint, --config.user, --config.exposedports, ...
oci_image() {
  local ref=$1 rootfs=$2 archive=$3 tag=${1##*:} work
  shift 3
  case $tag in */* | "$ref") echo "oci_image: $ref has no tag" >&2 && return 1 ;; esac
  work=$(mktemp -d)
  {
    umoci init --layout "$work/layout" &&
      umoci new --image "$work/layout:$tag" &&
      umoci unpack --image "$work/layout:$tag" "$work/bundle" &&
      cp -a "$rootfs/." "$work/bundle/rootfs/" &&
      umoci repack --image "$work/layout:$tag" "$work/bundle" &&
      umoci config --image "$work/layout:$tag" --config.workingdir / "$@" &&
      umoci gc --layout "$work/layout" &&
      python3 - "$work/layout/index.json" "$ref" <<'PY' &&
import json, sys
path, ref = sys.argv[1:]
index = json.load(open(path))
for manifest in index["manifests"]:
    manifest.setdefault("annotations", {})["io.containerd.image.name"] = ref
json.dump(index, open(path, "w"))
PY
      mkdir -p "$(dirname "$archive")" &&
      tar -C "$work/layout" -cf "$archive.part" . &&
      mv "$archive.part" "$archive"
  } || {
    rm -rf "$work"
    echo "oci_image: building $ref failed" >&2
    return 1
  }
  rm -rf "$work"
}
