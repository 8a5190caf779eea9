#!/usr/bin/env bash
# Model-check barrier.pml with spin: the protocol as built must verify, and
# each fault switch must produce an error (an assertion violation, or an
# invalid end state: a deadlock). Needs spin and cc.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp barrier.pml "$work/"
cd "$work"

# check NAME WANT [DEFINE]: WANT is "none" or "some" errors.
bad=0
check() {
	local name=$1 want=$2; shift 2
	rm -f pan pan.* ./*.trail
	spin -a "$@" barrier.pml >/dev/null
	cc -O2 -DSAFETY -DCOLLAPSE -o pan pan.c 2>cc.txt || { cat cc.txt; exit 1; }
	./pan -m10000000 >out.txt 2>&1 || true
	local n states
	n=$(grep -oE "errors: [0-9]+" out.txt | grep -oE "[0-9]+" || echo "?")
	states=$(grep -oE "[0-9.e+]+ states, stored" out.txt | head -1 || true)
	if { [ "$want" = none ] && [ "$n" = 0 ]; } || { [ "$want" = some ] && [ "$n" != 0 ] && [ "$n" != "?" ]; }; then
		local what=""
		[ "$n" != 0 ] && what=$(grep -m1 -oE 'assertion violated.*|invalid end state \(.*' out.txt | sed 's/^/: /')
		echo "model: ok: $name: $n errors ($states)$what"
	else
		echo "model: FAIL: $name: $n errors, want $want"
		grep -E "assertion violated|invalid end state|errors" out.txt | head -5
		bad=1
	fi
}

check "the protocol as built" none
check "the protocol as built, with switches that give up, one switch (-DABORT -DMAXSW=1)" none -DABORT -DMAXSW=1
check "the protocol as built, with switches that give up, one acquisition per op (-DABORT -DITERS=1)" none -DABORT -DITERS=1
check "without the validation after counting (-DNOVALIDATE)" some -DNOVALIDATE
check "without the drain (-DNODRAIN)" some -DNODRAIN
check "with a wrong-shard decrement (-DWRONGSHARD)" some -DWRONGSHARD
check "without the eviction of the sleepers (-DNOWAKE)" some -DNOWAKE
check "without the gate check after registering to sleep (-DNOPARKCHECK)" some -DNOPARKCHECK
check "without freeing a reserved word on back-out (-DNOHANDOFFCLEAR)" some -DNOHANDOFFCLEAR
check "without withdrawing the handoff request on taking the lock (-DNOWITHDRAW)" some -DNOWITHDRAW
check "without the evicted waiter's check of its slot (-DNOEVICTCHECK)" some -DNOEVICTCHECK
check "without the token for an evicted waiter (-DNOEVICTWAKE)" some -DNOEVICTWAKE
check "without withdrawing an evicted waiter's handoff request (-DNOEVICTCLEAR)" some -DNOEVICTCLEAR
check "without restoring the evicted when a switch gives up (-DABORT -DNOEVICTRESTORE)" some -DABORT -DMAXSW=1 -DNOEVICTRESTORE
check "restoring them without a kick (-DABORT -DNORESTOREKICK)" some -DABORT -DMAXSW=1 -DNORESTOREKICK
exit $bad
