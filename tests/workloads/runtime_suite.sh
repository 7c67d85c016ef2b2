#!/bin/sh
# A small end-to-end test suite, run inside a runc container by tests/tests/runtime.rs: a
# web server (busybox httpd) and its client (busybox wget) over the container's loopback,
# plus the marker workload. `runtime_suite.sh [TEST...]` runs the named tests (default: all)
# and exits non-zero if any fails, like any test runner.
PORT=8080
mkdir -p /tmp/www || exit 1
echo hello > /tmp/www/index.html
httpd -f -p 127.0.0.1:$PORT -h /tmp/www &
server=$!
trap 'kill $server 2>/dev/null' EXIT

up=0
for _ in $(seq 50); do
    if wget -q -O /dev/null http://127.0.0.1:"$PORT"/index.html 2>/dev/null; then
        up=1
        break
    fi
    usleep 100000
done
[ $up = 1 ] || { echo "FAIL server did not start"; exit 1; }

# shellcheck disable=SC2317 # called as "t_$t" below
t_get() { [ "$(wget -q -O - http://127.0.0.1:"$PORT"/index.html)" = hello ]; }
# shellcheck disable=SC2317
t_missing() { ! wget -q -O /dev/null http://127.0.0.1:"$PORT"/missing.html 2>/dev/null; }
# shellcheck disable=SC2317
t_workload() { /workload one; }

tests="$*"
[ -n "$tests" ] || tests="get missing workload"
status=0
for t in $tests; do
    if "t_$t"; then echo "ok $t"; else echo "FAIL $t"; status=1; fi
done
exit $status
