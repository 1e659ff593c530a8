# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables are used by the scripts that source lib.sh
# The secured local stack's settings, sourced by scripts/lib.sh. SECURITY=on
# runs Kafka over SASL_SSL (SCRAM, ACLs) and Postgres over TLS, with secrets
# that secrets.sh makes on first use under $SECURITY_DIR; off (the default)
# changes nothing.

SECURITY=${SECURITY:-off}
case $SECURITY in
on | off) ;;
*) printf 'error: SECURITY=%s: use on or off\n' "$SECURITY" >&2; exit 1 ;;
esac
# ca.pem, the certificates, passwords/<principal> (mode 600), the tools'
# client settings; the tests find it as SECURED_STACK_DIR.
SECURITY_DIR=$STATE_DIR/security
SECURITY_CA=$SECURITY_DIR/ca.pem
# Kafka's Java tools authenticate as admin with this (kafka.sh cli adds it).
ADMIN_CLIENT_PROPERTIES=$SECURITY_DIR/admin-client.properties
# The admin principal's settings for the Rust clients (sagactl, loadgen, the tests).
ADMIN_ENV=$SECURITY_DIR/admin.env

# Postgres URLs ask for TLS and check the server's name against the local CA.
PG_TLS=""
[ "$SECURITY" = off ] || PG_TLS="?sslmode=verify-full&sslrootcert=$SECURITY_CA"

# The Kafka client settings of principal $1 (contract/src/kafka.rs reads
# them), one VAR=value a line; none in plaintext.
kafka_env() {
  [ "$SECURITY" = on ] || return 0
  printf '%s\n' KAFKA_SECURITY_PROTOCOL=sasl_ssl KAFKA_SASL_MECHANISM=SCRAM-SHA-512 \
    "KAFKA_SASL_USERNAME=$1" "KAFKA_SASL_PASSWORD_FILE=$SECURITY_DIR/passwords/$1" \
    "KAFKA_SSL_CA_LOCATION=$SECURITY_CA"
}

# Each component records the mode it started in ($RUN_DIR/<name>.security,
# removed when it stops): the other mode is refused while it runs, and
# Kafka's tools follow the running broker's mode.
running_mode() { cat "$RUN_DIR/$1.security" 2>/dev/null || echo off; }
claim_mode() { # name [running]
  local mode
  mode=$(running_mode "$1")
  if [ -n "${2:-}" ] && [ "$mode" != "$SECURITY" ]; then
    die "$1 runs with SECURITY=$mode, not SECURITY=$SECURITY: stop the stack first (make down), then start it again with SECURITY=$SECURITY"
  fi
  # A service started alone (stack.sh up services) must speak the running broker's mode.
  case $1 in kafka | postgres) ;; *) ! pid_of kafka kafka.Kafka >/dev/null || claim_mode kafka running ;; esac
  echo "$SECURITY" >"$RUN_DIR/$1.security"
}

# For `make run`'s printout: sagactl needs the admin principal's settings
# first, and Kafka's tools log in by themselves.
ADMIN_ENV_PREFIX="" SECURED_KAFKA_NOTE=""
if [ "$SECURITY" = on ]; then
  ADMIN_ENV_PREFIX=". $ADMIN_ENV && "
  SECURED_KAFKA_NOTE=$'\n'"                        SASL_SSL, SCRAM, ACLs (kafka-setup/acls.conf); the tools below log in as admin"
fi
