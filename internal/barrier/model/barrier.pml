/*
 * A Promela model of the switch barrier (package barrier) as pvlock uses
 * it, with the phase names of barrier/doc.go: CLOSE, DRAIN, COMMIT, OPEN,
 * ABORT on the switcher's side; dispatch, count, validate, run, un-count on
 * an op's side. Run it with model/check.sh (spin -a; cc; ./pan).
 *
 * Checked properties: when the switcher COMMITs a new variant, no op is
 * running the old variant's slow path (the barrier's invariant); an op runs
 * a slow path only of the published variant, or while the gate is closed;
 * and no shard of the count ever goes below zero (what lets DRAIN demand
 * that every shard read zero). Memory is sequentially
 * consistent here: the count's LOCK XADD and the gate's XCHG make the real
 * x86 accesses behave so (TestStoreBufferLitmus covers the store buffer).
 *
 * Fault switches (each must make spin find an assertion violation):
 *   -DNOVALIDATE  an op does not check the gate and the state after counting
 *   -DNODRAIN     the switcher commits without waiting for the count
 *   -DWRONGSHARD  an op un-counts a shard other than the one it counted on
 */

#define NOPS   3
#define OPEN   0
#define CLOSED 1

byte count[2];      /* the sharded count of active slow-path ops */
bit  gate = OPEN;
bit  state = 0;     /* the published mode */
bit  site = 0;      /* where the slow-path entry site leads */
byte running[2];    /* ops inside the slow path of variant v */

active [NOPS] proctype Op()
{
	bit v;
	bit sh;
	do
	::
		/* dispatch: the site sends the op to a variant; the op may be
		 * descheduled here for as long as it likes (the entry window) */
		v = site;
		/* count: LOCK XADD on the shard of whatever P it runs on */
		if :: sh = 0 :: sh = 1 fi;
		count[sh]++;
		/* validate */
#ifdef NOVALIDATE
		if :: true ->
#else
		if :: gate == OPEN && state == v ->
#endif
			/* run the slow path of variant v */
			running[v]++;
			assert(v == state || gate == CLOSED);
			running[v]--;
			/* un-count, on the shard counted on */
#ifdef WRONGSHARD
			sh = 1 - sh;
#endif
			assert(count[sh] > 0);
			count[sh]--
		:: else ->
			/* back off: un-count, wait at the gate, re-run the site */
			assert(count[sh] > 0);
			count[sh]--;
			(gate == OPEN)
		fi
	od
}

active proctype Switcher()
{
	bit old;
	do
	::
		old = state;
		gate = CLOSED;                         /* CLOSE (XCHG) */
#ifdef NODRAIN
		if :: true ->
#else
		if
		:: count[0] == 0 ->                    /* DRAIN: shard by shard */
			if
			:: count[1] == 0 -> skip
			:: else -> goto abort
			fi;
#endif
			/* COMMIT: no op of the old variant may be running */
			assert(running[old] == 0);
			site = 1 - old;
			state = 1 - old
#ifdef NODRAIN
		fi;
#else
		:: else -> goto abort
		fi;
#endif
		goto open;
abort:
		skip;                                  /* ABORT: write nothing */
open:
		gate = OPEN                            /* OPEN */
	od
}
