#!/usr/bin/env bash
# A/B benchmark of the uncontended Lock+Unlock, interleaved so that the
# noise of a shared VM hits both sides alike:
#
#   patched   the normal build: Lock/Unlock run the patched lock-op sites
#   flag      the pvswitch_flagdispatch build: the same algorithm reading a
#             mode flag on every Unlock and slow path
#   ttas      the static reference TTAS lock in assembly (not patchable)
#   mutex     sync.Mutex
#
# in both modes, ROUNDS times each (default 10), then benchstat. (The flag
# build logs at start that it cannot switch; that line is dropped.)
# Usage: bench/abtest.sh [ROUNDS]   (benchstat: go install golang.org/x/perf/cmd/benchstat@latest)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
out=${OUT:-$(mktemp -d)}
go test -c -o "$out/patched.test" ./pvlock
go test -c -tags pvswitch_flagdispatch -o "$out/flag.test" ./pvlock
: >"$out/patched.txt"; : >"$out/flag.txt"; : >"$out/ref.txt"
for i in $(seq "$rounds"); do
	for m in native paravirt; do
		"$out/patched.test" -test.run '^$' -test.bench "^BenchmarkPublicUncontended/mode=$m\$" -test.benchtime 200ms |
			grep '^Benchmark' >>"$out/patched.txt"
		PVLOCK_MODE=$m "$out/flag.test" 2>/dev/null -test.run '^$' -test.bench "^BenchmarkPublicUncontended/mode=$m\$" -test.benchtime 200ms |
			grep '^Benchmark' >>"$out/flag.txt"
	done
	"$out/patched.test" -test.run '^$' -test.bench '^BenchmarkUncontended/(lock=ttas|lock=sync.Mutex)$' -test.benchtime 200ms |
		grep '^Benchmark' >>"$out/ref.txt"
done
echo "== patched (normal build) vs flag dispatch (pvswitch_flagdispatch build)"
benchstat "patched=$out/patched.txt" "flag=$out/flag.txt"
echo
echo "== references in the same run"
benchstat "$out/ref.txt"
echo "(raw results in $out)"
