#!/usr/bin/env bash
# Makes the broker's ACLs grant what the table (acls.conf) says, idempotently:
# one listing, then one kafka-acls run per principal and kind (write, read) of
# which anything is missing, so a broker already as the table says costs one
# JVM launch. Warns about ACLs of the table's principals it does not list, and
# never removes one. Super users (`*`) need none: kafka.sh names them in
# super.users.
#
# Runs locally (kafka.sh start, when SECURITY=on); it only needs bash and
# Kafka's kafka-acls. Environment:
#   KAFKA_BOOTSTRAP_SERVERS   required (kafka.sh passes the local stack's)
#   ACL_TABLE                 default acls.conf beside this script
#   KAFKA_ACLS_CMD            default bin/kafka-acls beside this script, which
#                             logs in as admin on the local secured broker
#   KAFKA_TOPIC_PREFIX        default empty: prepended to every topic and group,
#                             as the services do (the tests' private topics)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bootstrap=${KAFKA_BOOTSTRAP_SERVERS:?set KAFKA_BOOTSTRAP_SERVERS, e.g. host:port}
table=${ACL_TABLE:-$here/acls.conf}
acls_cmd=${KAFKA_ACLS_CMD:-$here/bin/kafka-acls}
prefix=${KAFKA_TOPIC_PREFIX:-}

[ -r "$table" ] || { echo "error: ACL table $table not readable" >&2; exit 1; }

# What the broker allows now, as "User:p OPERATION TYPE name" keys, from the
# listing's "... ResourcePattern(resourceType=TOPIC, name=x, patternType=LITERAL)`:"
# lines, each followed by "(principal=User:p, host=*, operation=READ, permissionType=ALLOW)".
declare -A have wanted principals
resource=""
while IFS= read -r line; do
  if [[ $line =~ resourceType=([A-Z_]+),\ name=(.*),\ patternType=LITERAL\) ]]; then
    resource="${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
  elif [[ $line == *ResourcePattern* ]]; then
    resource="" # prefixed or matching patterns are not the table's
  elif [ -n "$resource" ] && [[ $line =~ principal=([^,]+),\ host=\*,\ operation=([A-Z_]+),\ permissionType=ALLOW ]]; then
    have["${BASH_REMATCH[1]} ${BASH_REMATCH[2]} $resource"]=1
  fi
done < <($acls_cmd --bootstrap-server "$bootstrap" --list)

granted=0 unchanged=0
# Allows `operation` to `user` on every resource ("topic:name", "group:name")
# in one run, when any of them lacks it.
grant() { # user operation resource...
  local user=$1 operation=$2 resource type key args=() missing=0
  shift 2
  for resource in "$@"; do
    type=${resource%%:*}
    args+=("--$type" "${resource#*:}")
    key="$user ${operation^^} ${type^^} ${resource#*:}"
    wanted[$key]=1
    [ -n "${have[$key]:-}" ] || missing=1
  done
  if ((missing)); then
    $acls_cmd --bootstrap-server "$bootstrap" --add --allow-principal "$user" --operation "$operation" "${args[@]}" >/dev/null
    echo "acls: $user may ${operation,,} $(printf '%s, ' "${@//:/ }" | sed 's/, $//')"
    granted=$((granted + 1))
  else
    unchanged=$((unchanged + 1))
  fi
}

# Appends "type:name" to resources for each name of a column's list.
add() { # type list
  local name
  for name in ${2//,/ }; do [ "$name" = - ] || resources+=("$1:$prefix$name"); done
}

number=0
while read -r principal writes reads group extra; do
  number=$((number + 1))
  case "$principal" in '' | '#'*) continue ;; esac
  if [ -z "$group" ] || [ -n "$extra" ]; then
    echo "error: $table line $number: expected 4 columns (principal writes reads group)" >&2
    exit 1
  fi
  [ "$writes$reads$group" = '***' ] && continue
  user=User:$principal
  principals[$user]=1
  resources=()
  add topic "$writes"
  ((${#resources[@]} == 0)) || grant "$user" Write "${resources[@]}"
  resources=()
  add topic "$reads"
  add group "$group"
  ((${#resources[@]} == 0)) || grant "$user" Read "${resources[@]}"
done <"$table"

for key in "${!have[@]}"; do
  if [ -n "${principals[${key%% *}]:-}" ] && [ -z "${wanted[$key]:-}" ] && [[ ${key##* } == "$prefix"* ]]; then
    echo "warning: the broker allows $key, which $table does not list; left as is" >&2
  fi
done
echo "acls: $granted grants added, $unchanged already as the table says"
