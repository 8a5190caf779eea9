/*
 * A Promela model of the live switch: the barrier (package barrier) and
 * the lock protocol that pvlock runs through it, with one lock word, the
 * paravirt waiters' marks, sleepers and kicks, and the switcher's wake.
 * The names are those of barrier/doc.go and pvlock: CLOSE, WAKE, DRAIN,
 * COMMIT, OPEN on the switcher's side; dispatch, spin, count, validate,
 * mark, park, back out, release on an op's side. Run it with
 * model/check.sh (spin -a; cc; ./pan).
 *
 * The lock word: 0 free, 1 locked, 3 locked with a parked waiter, 7 the
 * same with a starving waiter's handoff request, 4 reserved (not held,
 * taken only by a woken sleeper's XCHG). NATIVE
 * and PV are the two variants; `site` is what both lock-op sites run (the
 * patch window is one step here: the INT3 protocol and its handler wait
 * are package patch's, tested there), `state` the published mode.
 *
 * Checked:
 *   - mutual exclusion: at most one holder;
 *   - a paravirt waiter past its validation (counted, about to mark, marked
 *     or asleep) only exists while the sites run PV: no COMMIT to NATIVE
 *     while one does, so a native release never clears a mark it must
 *     kick;
 *   - a native release never clears a mark while a waiter sleeps on it
 *     (the lost wakeup itself);
 *   - no shard of the count goes below zero;
 *   - no deadlock (spin's invalid end states), with holders that may wait
 *     at the closed gate before they release (a nested lock held at the
 *     gate) and a drain that must finish without any release: so the
 *     switcher's WAKE and the waiters' gate check before sleeping are
 *     needed for the drain to end at all. (The real drain also has a bound
 *     and an abort; here it may not give up, which is the stronger claim.)
 * Two ops and two switches (NOPS, MAXSW) already exhibit every fault
 * below; the state space is about 51 million states (about 4 GB, 90 s).
 * Memory is sequentially consistent here: the count's LOCK XADD, the
 * registry's CMPXCHG and the gate's XCHG make the real x86 accesses behave
 * so (TestStoreBufferLitmus covers the store buffer).
 *
 * Fault switches (each must make spin find an error):
 *   -DNOVALIDATE   a paravirt waiter does not check the gate and the state
 *                  after counting
 *   -DNODRAIN      the switcher commits without waiting for the count
 *   -DWRONGSHARD   an op un-counts a shard other than the one it counted on
 *   -DNOWAKE       the switcher does not wake the registered sleepers
 *   -DNOPARKCHECK  a waiter does not check the gate after registering as a
 *                  sleeper
 *   -DNOHANDOFFCLEAR  a waiter that backs out leaves a reserved word reserved
 *   -DNOWITHDRAW   a starving waiter that takes the lock leaves its handoff
 *                  request in the word
 */

#define NOPS   2   /* ops: a holder, a waiter, and each in either role */
#define MAXSW  2   /* switches (bounded: each may strand a token per waiter in sema) */
#define OPEN   0
#define CLOSED 1
#define NATIVE 0
#define PV     1

byte word = 0;       /* the lock word */
byte sema = 0;       /* the runtime semaphore's tokens */
byte waiters = 0;    /* the bucket's paravirt waiters, from just before the mark */
byte count[2];       /* the barrier's sharded count */
bit  gate = OPEN;
bit  state = PV;     /* the published mode */
bit  site = PV;      /* what the lock-op sites run */
bit  reg[NOPS];      /* the sleeper registry */
byte asleep = 0;     /* waiters registered and not yet past their wake */
byte holders = 0;

/* CAS 0 -> 1 */
inline tryAcquire() {
	atomic { word == 0 -> word = 1 }
}

active [NOPS] proctype Op()
{
	bit v, sh, old3, kick;
	byte old, mk;
	do
	::
		/* Lock: the fast path, else the slow-path entry site */
		if
		:: atomic { word == 0 -> word = 1 }; goto acquired
		:: else -> skip
		fi;
rerun:
		v = site;                          /* dispatch (the entry window follows) */
		if
		:: v == NATIVE ->
native:
			/* never counted: writes only 0 -> 1 */
			do
			:: tryAcquire(); goto acquired
			:: gate == CLOSED ->
				do                             /* wait at the gate, asleep */
				:: tryAcquire(); goto acquired
				:: gate == OPEN -> goto rerun
				od
			:: gate == OPEN && state != NATIVE -> goto rerun
			od
		:: v == PV ->
			/* spin: uncounted, only 0 -> 1 */
			if
			:: tryAcquire(); goto acquired
			:: true -> skip
			fi;
			/* count, then validate */
			if :: sh = 0 :: sh = 1 fi;
			count[sh]++;
#ifdef NOVALIDATE
			if :: true ->
#else
			if :: gate == OPEN && state == PV ->
#endif
				skip
			:: else ->
				assert(count[sh] > 0);
				count[sh]--;
				if
				:: gate == OPEN -> goto native   /* the site ran ahead of the mode */
				:: else ->
					do
					:: tryAcquire(); goto acquired
					:: gate == OPEN -> goto rerun
					od
				fi
			fi;
			/* mark */
			assert(site == PV);
			waiters++;
			atomic {
				if
				:: word == 0 -> word = 1; old3 = 0
				:: word == 1 -> word = 3; old3 = 1
				:: word == 3 || word == 7 || word == 4 -> old3 = 1  /* marked, or reserved for a sleeper */
				fi
			}
			if
			:: old3 == 0 -> waiters--; goto leave
			:: else -> skip
			fi;
park:
			assert(site == PV);
			reg[_pid] = 1;                     /* register: CMPXCHG */
#ifndef NOPARKCHECK
			if
			:: gate == CLOSED ->               /* a switch is draining: do not sleep */
				reg[_pid] = 0;
				goto backout
			:: else -> skip
			fi;
#endif
			asleep++;
			atomic { sema > 0 -> sema-- };    /* sleep until a token */
			asleep--;
			reg[_pid] = 0;
			/* woken: swap in 3, or 7 if it has waited long (starving);
			 * a free or reserved word means acquired */
			if :: mk = 3 :: mk = 7 fi;
			atomic { old = word; word = mk };
			if
			:: old == 0 || old == 4 ->
#ifndef NOWITHDRAW
				atomic { if :: word == 7 -> word = 3 :: else -> skip fi };
#endif
				waiters--; goto leave
			:: else -> goto park
			fi;
backout:
			/* withdraw a handoff request */
			atomic {
				if
				:: word == 7 -> word = 3
#ifndef NOHANDOFFCLEAR
				:: word == 4 -> word = 0
#endif
				:: else -> skip
				fi
			}
			waiters--;
			assert(count[sh] > 0);
			count[sh]--;
			do
			:: tryAcquire(); goto acquired
			:: gate == OPEN -> goto rerun
			od;
leave:
			/* un-count, on the shard counted on */
#ifdef WRONGSHARD
			sh = 1 - sh;
#endif
			assert(count[sh] > 0);
			count[sh]--;
			goto acquired
		fi;
acquired:
		holders++;
		assert(holders == 1);
		/* a holder may take another lock and wait at the closed gate */
		if
		:: skip
		:: true -> (gate == OPEN)
		fi;
		holders--;
		/* Unlock: the release site, one instruction: the plain store, or
		 * the paravirt release's CMPXCHG 1 -> 0 or XCHG 3 -> 0 */
		atomic {
			if
			:: site == NATIVE ->
				assert(!((word == 3 || word == 7) && asleep > 0));
				word = 0; kick = 0
			:: site == PV && word == 1 -> word = 0; kick = 0
			:: site == PV && word == 3 -> word = 0; kick = 1
			:: site == PV && word == 7 -> word = 4; kick = 1  /* reserve for a sleeper */
			fi
		}
		/* kick unless nobody waits or a token is already there */
		if
		:: kick && waiters > 0 && sema == 0 -> sema++
		:: else -> skip
		fi
	od
}

active proctype Switcher()
{
	bit old;
	byte i, n = 0;
	do
	:: n == MAXSW -> break
	:: n < MAXSW ->
		n++;
		old = state;
		gate = CLOSED;                         /* CLOSE (XCHG) */
#if !defined(NOWAKE) && !defined(NODRAIN)
		i = 0;                                 /* WAKE every registered sleeper */
		do
		:: i < NOPS ->
			if
			:: reg[i] -> sema++
			:: else -> skip
			fi;
			i++
		:: else -> break
		od;
#endif
#ifndef NODRAIN
		(count[0] == 0);                       /* DRAIN: shard by shard */
		(count[1] == 0);
#endif
		site = 1 - old;                        /* COMMIT */
		state = 1 - old;
		gate = OPEN                            /* OPEN */
	od
}
