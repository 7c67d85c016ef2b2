#!/bin/bash
# Record a test suite in fresh runc containers, growing one profile over several runs, then
# run the suite once more under that profile and exit with its status.
#
#   record-e2e.sh PROFILE ROOTFS RUNS CMD [ARG...]
#
# PROFILE  the profile to grow (--append); created from runtime-needs.json (next to this
#          script) when missing
# ROOTFS   the container's root filesystem (for an image: docker export, see README.md)
# RUNS     how many recorded runs
# CMD      the suite, as a path inside ROOTFS
#
# Each run is recorded from a cgroup made before `runc run`, so that the profile has
# everything runc's init calls after loading the filter, with or without noNewPrivileges
# (docs/runtime.md). That records runc's init from its first step: the profile also allows
# what the init does before it loads the filter (unshare, mount, pivot_root, sethostname),
# which the container's capabilities refuse anyway. For a tighter profile of a container
# with noNewPrivileges, record between `runc create` and `runc start` instead.
#
# Needs root, runc, jq and seccomp-recorder (or $SECCOMP_RECORDER).
# The containers have their own network namespace with loopback only.
set -euo pipefail

if [ $# -lt 4 ]; then
    echo "usage: $0 PROFILE ROOTFS RUNS CMD [ARG...]" >&2
    exit 2
fi
profile=$1 rootfs=$2 runs=$3
shift 3
recorder=${SECCOMP_RECORDER:-seccomp-recorder}
here=$(dirname "$(realpath "$0")")
[ -d "$rootfs" ] || { echo "$0: ROOTFS $rootfs is not a directory" >&2; exit 2; }
rootfs=$(realpath "$rootfs")
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "$0: RUNS must be a positive number, not '$runs'" >&2; exit 2; }
[ -d "$(dirname "$profile")" ] || { echo "$0: no directory for PROFILE $profile" >&2; exit 2; }
[ -e "$profile" ] || cp "$here/runtime-needs.json" "$profile"

# The cgroup v2 hierarchy: /sys/fs/cgroup, or its unified part on a hybrid host.
cgroot=/sys/fs/cgroup
[ "$(stat -fc %T $cgroot)" = cgroup2fs ] || cgroot=/sys/fs/cgroup/unified
[ "$(stat -fc %T $cgroot)" = cgroup2fs ] || { echo "$0: no cgroup v2 hierarchy" >&2; exit 1; }

work=$(mktemp -d)
name=record-e2e-$$
cleanup() {
    runc --root "$work/state" delete -f "$name" >/dev/null 2>&1 || true
    rmdir "$cgroot/$name"-* 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

runc spec --bundle "$work"
mv "$work/config.json" "$work/spec.json"
args=$(jq -n '$ARGS.positional' --args -- "$@")
# config.json for one run; $1 is a jq filter applied last, the rest are jq options for it.
configure() {
    local extra=$1
    shift
    jq --arg root "$rootfs" --arg cg "/$cgroup" --argjson args "$args" "$@" '
        .root = {path: $root, readonly: false} | .process.terminal = false |
        .process.args = $args | .linux.cgroupsPath = $cg | '"$extra" \
        "$work/spec.json" > "$work/config.json"
}

# A cgroup of its own for each run, so that a run never waits on the last one's leftovers.
for run in $(seq "$runs"); do
    cgroup=$name-$run
    configure .
    mkdir "$cgroot/$cgroup"
    : > "$work/record.log"
    "$recorder" record --append "$profile" --cgroup "$cgroot/$cgroup" 2> "$work/record.log" &
    rec=$!
    until grep -q 'recording via' "$work/record.log"; do
        kill -0 $rec 2>/dev/null || { cat "$work/record.log" >&2; exit 1; }
        sleep 0.1
    done
    status=0
    runc --root "$work/state" run --bundle "$work" "$name" < /dev/null || status=$?
    wait $rec || { cat "$work/record.log" >&2; exit 1; }
    runc --root "$work/state" delete -f "$name" >/dev/null 2>&1 || true
    rmdir "$cgroot/$cgroup" 2>/dev/null || true
    echo "record-e2e: run $run exited with status $status" >&2
done

cgroup=$name-enforce
# shellcheck disable=SC2016 # $profile is jq's variable
configure '.linux.seccomp = $profile[0]' --slurpfile profile "$profile"
echo "record-e2e: enforcing $profile" >&2
runc --root "$work/state" run --bundle "$work" "$name" < /dev/null
