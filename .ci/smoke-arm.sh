#!/usr/bin/env bash
# Smoke test of a cross-built tally under qemu user-mode emulation:
# keygen, run the demo config (simulated sensors) for a few seconds with
# anchoring to a native CometBFT node on loopback, audit, and check that
# readings were recorded and at least one anchor's evidence verified.
#
#   bash .ci/smoke-arm.sh arm64 dist/tally-linux-arm64
#   bash .ci/smoke-arm.sh arm   dist/tally-linux-armv7
#
# Needs cometbft v0.38.19 (go install github.com/cometbft/cometbft/cmd/cometbft@v0.38.19,
# .ci/run's ledgers step), qemu-user and the cross libc (libc6-dev-arm64-cross / -armhf-cross):
# the binary is dynamically linked (cgo, SQLite), so qemu gets the target's
# loader and libc with -L. No binfmt_misc registration is needed.
# Run from the repository root. Exits non-zero, saying what went wrong.
set -euo pipefail

ARCH=${1:-arm64}
BIN=${2:-dist/tally-linux-arm64}
CONFIG=${CONFIG:-configs/demo.yaml}
RUN_FOR=${RUN_FOR:-12s}
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

COMETBFT=$(command -v cometbft || echo "$(go env GOPATH 2>/dev/null)/bin/cometbft")
[[ -x $COMETBFT ]] || fail "cometbft not found: go install github.com/cometbft/cometbft/cmd/cometbft@v0.38.19 (bash .ci/run ledgers)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tally-smoke-$ARCH.XXXXXX")
DATA=$WORK/data
keep=1
LEDGER_PID=
cleanup() {
	[[ -n $LEDGER_PID ]] && kill "$LEDGER_PID" 2>/dev/null && wait "$LEDGER_PID" 2>/dev/null
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

# free_port prints a loopback TCP port nothing listens on.
free_port() {
	local p
	for ((p = $1; p < $1 + 200; p++)); do
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	fail "no free port from $1"
}

# The ledger: a native single-validator CometBFT node (kvstore app) on
# loopback; the demo config, copied, points at it and pins its genesis.
RPC_PORT=$(free_port 26657)
P2P_PORT=$(free_port $((RPC_PORT + 1)))
"$COMETBFT" init --home "$WORK/ledger" >/dev/null 2>&1 || fail "cometbft init failed"
sed -i -e "s#^laddr = \"tcp://127.0.0.1:26657\"#laddr = \"tcp://127.0.0.1:$RPC_PORT\"#" \
	-e "s#^laddr = \"tcp://0.0.0.0:26656\"#laddr = \"tcp://127.0.0.1:$P2P_PORT\"#" \
	-e 's#^timeout_commit = .*#timeout_commit = "200ms"#' "$WORK/ledger/config/config.toml"
"$COMETBFT" node --home "$WORK/ledger" --proxy_app=kvstore >"$WORK/ledger.log" 2>&1 &
LEDGER_PID=$!
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$RPC_PORT") 2>/dev/null && break
	sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$RPC_PORT") 2>/dev/null || fail "CometBFT did not listen on 127.0.0.1:$RPC_PORT: $(tail -5 "$WORK/ledger.log")"
sed -e "s#rpc: http://127.0.0.1:26657#rpc: http://127.0.0.1:$RPC_PORT#" \
	-e "s#genesis: cometbft/node0/config/genesis.json#genesis: $WORK/ledger/config/genesis.json#" "$CONFIG" >"$WORK/demo.yaml"
grep -q "127.0.0.1:$RPC_PORT" "$WORK/demo.yaml" || fail "$CONFIG no longer has anchor.cometbft.rpc http://127.0.0.1:26657: update this script"
CONFIG=$WORK/demo.yaml

echo "smoke[$ARCH]: $BIN ($(stat -c %s "$BIN") bytes) in $WORK, ledger on 127.0.0.1:$RPC_PORT"
start=$SECONDS
tally keygen 60s keygen --config "$CONFIG" --data "$DATA"
tally run 90s run --config "$CONFIG" --data "$DATA" --for "$RUN_FOR"
tally audit 120s audit --config "$CONFIG" --data "$DATA"

line=$(grep -E '^audit passed: [0-9]+ readings' "$WORK/audit.log" || true)
[[ -n $line ]] || fail "tally audit exited 0 but did not print 'audit passed: N readings'"
n=$(sed -E 's/^audit passed: ([0-9]+) readings.*/\1/' <<<"$line")
((n > 0)) || fail "audit passed but the store holds $n readings: the simulated sensors recorded nothing in $RUN_FOR"
a=$(sed -nE 's/.*, ([0-9]+) ledger anchors .*/\1/p' <<<"$line")
((${a:-0} > 0)) || fail "audit passed but found no ledger anchor: the gateway did not anchor on CometBFT in $RUN_FOR (see run.log, $WORK/ledger.log)"

keep=0
echo "smoke[$ARCH]: ok: $n readings recorded and audited, $a CometBFT anchors' evidence verified ($((SECONDS - start))s under ${QEMU[0]})"
