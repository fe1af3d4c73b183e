#!/usr/bin/env bash
# Smoke test of a cross-built tally under qemu user-mode emulation:
# keygen, run the demo config (simulated sensors) for a few seconds, audit,
# and check that readings were recorded.
#
#   bash .ci/smoke-arm.sh arm64 dist/tally-linux-arm64
#   bash .ci/smoke-arm.sh arm   dist/tally-linux-armv7
#
# Needs qemu-user and the cross libc (libc6-dev-arm64-cross / -armhf-cross):
# the binary is dynamically linked (cgo, SQLite), so qemu gets the target's
# loader and libc with -L. No binfmt_misc registration is needed.
# Run from the repository root. Exits non-zero, saying what went wrong.
set -euo pipefail

ARCH=${1:-arm64}
BIN=${2:-dist/tally-linux-arm64}
CONFIG=${CONFIG:-configs/demo.yaml}
RUN_FOR=${RUN_FOR:-8s}
STATUS_PORT=8490 # http.listen in configs/demo.yaml; there is no flag to move it

case $ARCH in
arm64)
	QEMU=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
	LIBC_PKG=libc6-dev-arm64-cross
	;;
arm)
	QEMU=(qemu-arm -L /usr/arm-linux-gnueabihf)
	LIBC_PKG=libc6-dev-armhf-cross
	;;
*)
	echo "smoke: unknown arch $ARCH (arm64 or arm)" >&2
	exit 2
	;;
esac

fail() {
	printf '\nsmoke[%s]: FAIL: %s\n' "$ARCH" "$*" >&2
	exit 1
}

command -v "${QEMU[0]}" >/dev/null || fail "${QEMU[0]} not found: apt-get install -y qemu-user"
[[ -d ${QEMU[2]} ]] || fail "${QEMU[2]} missing: apt-get install -y $LIBC_PKG"
[[ -x $BIN ]] || fail "binary $BIN not found or not executable: build it first (bash .ci/run build)"
[[ -f $CONFIG ]] || fail "config $CONFIG not found (run from the repository root)"
grep -q "127.0.0.1:$STATUS_PORT" "$CONFIG" || fail "$CONFIG no longer listens on 127.0.0.1:$STATUS_PORT: update STATUS_PORT here"

# The demo config's status server needs the port: say who holds it.
if (exec 3<>"/dev/tcp/127.0.0.1/$STATUS_PORT") 2>/dev/null; then
	holder=""
	command -v ss >/dev/null && holder=$(ss -ltnp "sport = :$STATUS_PORT" 2>/dev/null | tail -n +2)
	fail "127.0.0.1:$STATUS_PORT is already in use (configs/demo.yaml's status port); stop that process first${holder:+: $holder}"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tally-smoke-$ARCH.XXXXXX")
DATA=$WORK/data
keep=1
cleanup() {
	if ((keep)); then
		echo "smoke[$ARCH]: logs and data kept in $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

# tally runs the emulated binary with a hard time limit, its output to LOG
# (and shown afterwards); a non-zero exit fails the smoke test naming the
# step and showing the output.
tally() {
	local step=$1 limit=$2
	shift 2
	local log=$WORK/$step.log rc=0
	echo "+ ${QEMU[*]} $BIN $*"
	timeout --kill-after=10s "$limit" "${QEMU[@]}" "$BIN" "$@" >"$log" 2>&1 </dev/null || rc=$?
	sed 's/^/    /' "$log"
	if ((rc == 124 || rc == 137)); then
		fail "tally $step did not finish within $limit"
	elif ((rc != 0)); then
		if grep -q 'is not built into this tally' "$log"; then
			fail "tally $step: a driver $CONFIG uses is not registered in edge/drivers.go (newDriver) in this build"
		fi
		fail "tally $step exited $rc (output above)"
	fi
}

echo "smoke[$ARCH]: $BIN ($(stat -c %s "$BIN") bytes) in $WORK"
start=$SECONDS
tally keygen 60s keygen --config "$CONFIG" --data "$DATA"
tally run 90s run --config "$CONFIG" --data "$DATA" --for "$RUN_FOR"
tally audit 120s audit --config "$CONFIG" --data "$DATA"

line=$(grep -E '^audit passed: [0-9]+ readings' "$WORK/audit.log" || true)
[[ -n $line ]] || fail "tally audit exited 0 but did not print 'audit passed: N readings'"
n=$(sed -E 's/^audit passed: ([0-9]+) readings.*/\1/' <<<"$line")
((n > 0)) || fail "audit passed but the store holds $n readings: the simulated sensors recorded nothing in $RUN_FOR"

keep=0
echo "smoke[$ARCH]: ok: $n readings recorded and audited ($((SECONDS - start))s under ${QEMU[0]})"
