#!/usr/bin/env bash
# Model-check barrier.pml with spin: the protocol as built must verify, and
# each fault switch must produce an assertion violation. Needs spin and cc.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp barrier.pml "$work/"
cd "$work"

# check NAME WANT [DEFINE]: WANT is "none" or "some" assertion violations.
bad=0
check() {
	local name=$1 want=$2; shift 2
	rm -f pan pan.* ./*.trail
	spin -a "$@" barrier.pml >/dev/null
	cc -O2 -DSAFETY -o pan pan.c
	./pan -m1000000 >out.txt 2>&1 || true
	local n states
	n=$(grep -oE "errors: [0-9]+" out.txt | grep -oE "[0-9]+" || echo "?")
	states=$(grep -oE "[0-9]+ states, stored" out.txt | head -1 || true)
	if { [ "$want" = none ] && [ "$n" = 0 ]; } || { [ "$want" = some ] && [ "$n" != 0 ] && [ "$n" != "?" ]; }; then
		echo "model: ok: $name: $n assertion violations ($states)"
	else
		echo "model: FAIL: $name: $n assertion violations, want $want"
		grep -E "assertion violated|errors" out.txt | head -5
		bad=1
	fi
}

check "the protocol as built" none
check "without the validation after counting (-DNOVALIDATE)" some -DNOVALIDATE
check "without the drain (-DNODRAIN)" some -DNODRAIN
check "with a wrong-shard decrement (-DWRONGSHARD)" some -DWRONGSHARD
exit $bad
