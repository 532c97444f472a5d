#!/bin/sh
# The web container's entry point: gunicorn, with a drain before it stops.
#
# On SIGTERM a load balancer must stop sending *before* the server stops accepting: gunicorn closes its
# listening socket at once on SIGTERM, so connections arriving during its graceful timeout are refused.
# The order here: 1. create READINESS_DRAIN_FILE (/readyz answers 503 from then on, everything else keeps
# working); 2. keep serving DRAIN_SECONDS, longer than the load balancer's health-check interval times its
# unhealthy threshold; 3. SIGTERM gunicorn, which finishes in-flight requests (--graceful-timeout) and
# exits. The container's stop timeout must exceed DRAIN_SECONDS + the graceful timeout.
set -eu
# Per instance (its PID): two servers on one host never drain each other.
: "${READINESS_DRAIN_FILE:=${TMPDIR:-/tmp}/threshold-draining-$$}"
: "${DRAIN_SECONDS:=10}"
export READINESS_DRAIN_FILE
rm -f "$READINESS_DRAIN_FILE"

"$@" &
child=$!

drain() {
  touch "$READINESS_DRAIN_FILE"
  sleep "$DRAIN_SECONDS"
  kill -TERM "$child" 2>/dev/null || true
}
trap drain TERM INT

# `wait` returns early (status > 128) when a trapped signal arrives: wait again until the server has
# really exited, and exit with its status.
while :; do
  set +e
  wait "$child"
  status=$?
  set -e
  kill -0 "$child" 2>/dev/null || break
done
rm -f "$READINESS_DRAIN_FILE"
exit "$status"
