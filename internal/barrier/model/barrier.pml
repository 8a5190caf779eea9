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
 * The switch to native evicts the registered sleepers (pvlock/evict.go):
 * it takes each out of the count, its bucket and its handoff request
 * itself, and then either commits and pays each a token, or gives up and
 * puts each back (counted again, registered again) if it has not woken
 * meanwhile, and kicks once per evicted waiter. With -DABORT the switcher
 * may give up at any point of its drain, as the real one does at its
 * bound; without it, it may not, and the drain must finish without any
 * release (the stronger claim about the drain, below). A paravirt waiter
 * does not sleep while an evicted waiter is owed its token (evout, per
 * bucket in pvlock): it retries as if woken.
 *
 * Bounds (NOPS ops, MAXSW switches, ITERS acquisitions per op) keep the
 * state space small enough for CI: check.sh runs the build without ABORT
 * at 2/2/2 (about 9e6 states), with ABORT at 2/1/2 and 2/2/1 (8e6 and
 * 1e6), and each broken twin at the smallest bounds that exhibit it. The
 * ABORT build at 2/2/2 (2.3e8 states, 12 GB with -DCOLLAPSE, 9 minutes on
 * one core) verified too; run it by hand after a protocol change:
 *   spin -a -DABORT barrier.pml && cc -O2 -DSAFETY -DCOLLAPSE -o pan pan.c \
 *     && ./pan -m10000000
 *
 * Checked:
 *   - mutual exclusion: at most one holder;
 *   - a paravirt waiter past its validation (counted, about to mark, marked
 *     or asleep) only exists while the sites run PV: no COMMIT to NATIVE
 *     while one does, so a native release never clears a mark it must
 *     kick;
 *   - a native release never clears a mark while a waiter that is not
 *     evicted sleeps on it (the lost wakeup itself; an evicted one is owed
 *     a token by the switch);
 *   - no shard of the count goes below zero;
 *   - no deadlock (spin's invalid end states), with holders that may wait
 *     at the closed gate before they release (a nested lock held at the
 *     gate) and a drain that must finish without any release: so the
 *     switcher's WAKE and the waiters' gate check before sleeping are
 *     needed for the drain to end at all; and every op ends (each takes the
 *     lock ITERS times), so an evicted waiter left asleep without a token
 *     is an invalid end state too.
 * Two ops and two switches (NOPS, MAXSW) exhibit every fault below but
 * one: a token taken by another paravirt sleeper (NOEVICTDEFER) needs a
 * third op (a holder, the evicted sleeper and the thief), which this model
 * cannot afford; pvlock's TestEvictedWaiterKeepsItsToken covers it.
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
 *   -DNOEVICTCHECK a woken waiter does not check whether it was evicted
 *   -DNOEVICTWAKE  a switch that evicted and committed pays no token
 *   -DNOEVICTCLEAR a switch that evicts does not withdraw the handoff request
 *   -DNOEVICTRESTORE  a switch that evicted and gave up does not put the
 *                  evicted waiters back
 *   -DNORESTOREKICK   it puts them back without a kick (a release may have
 *                  skipped its kick while they were not counted, or one
 *                  that woke took a kick and wrote nothing)
 */

#define NOPS   2   /* ops: a holder, a waiter, and each in either role */
#ifndef MAXSW
#define MAXSW  2   /* switches (bounded: each may strand a token per waiter in sema) */
#endif
#ifndef ITERS
#define ITERS  2   /* acquisitions per op, after which it ends */
#endif
#define FREE    0  /* registry slot states */
#define ASLEEP  1
#define EVICTED 2
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
byte reg[NOPS];      /* the sleeper registry: FREE, ASLEEP, EVICTED */
bit  sl[NOPS];       /* in the semaphore's wait */
bit  opsh[NOPS];     /* the shard each op counted on */
byte evout = 0;      /* bucket.evicted: slots evicted and not yet freed by their owner */
byte holders = 0;

/* CAS 0 -> 1 */
inline tryAcquire() {
	atomic { word == 0 -> word = 1 }
}

/* unregister: CMPXCHG ASLEEP -> FREE; failing that the slot is EVICTED:
 * free it, and say so (ev), unless the check is removed */
inline unregister(ev) {
	atomic {
		if
		:: reg[_pid] == ASLEEP -> reg[_pid] = FREE; ev = 0
		:: reg[_pid] == EVICTED -> reg[_pid] = FREE; evout--;
#ifdef NOEVICTCHECK
			ev = 0
#else
			ev = 1
#endif
		fi
	}
}

active [NOPS] proctype Op()
{
	bit v, sh, old3, kick, ev;
	byte old, mk, it = 0;
	do
	:: it == ITERS -> break
	:: it < ITERS ->
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
			opsh[_pid] = sh;
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
			reg[_pid] = ASLEEP;                /* register: ends with XCHG */
#ifndef NOPARKCHECK
			if
			:: gate == CLOSED ->               /* a switch is draining: do not sleep */
				unregister(ev);
				if
				:: ev -> goto evicted          /* evicted before the check: no sleep */
				:: else -> goto backout
				fi
			:: else -> skip
			fi;
#endif
#ifndef NOEVICTDEFER
			if
			:: evout > 0 ->                    /* evicted waiters are owed tokens: */
				unregister(ev);                /* do not sleep, retry as if woken */
				if
				:: ev -> goto evicted
				:: else -> goto woken
				fi
			:: else -> skip
			fi;
#endif
			sl[_pid] = 1;
			atomic { sema > 0 -> sema-- };    /* sleep until a token */
			sl[_pid] = 0;
			unregister(ev);
			if
			:: ev -> goto evicted
			:: else -> skip
			fi;
woken:
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
evicted:
			/* taken out of the count, the bucket and its handoff request by
			 * the switch: write nothing, wait at the gate, re-run the site */
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
				assert(!((word == 3 || word == 7) && ((sl[0] && reg[0] == ASLEEP) || (sl[1] && reg[1] == ASLEEP))));
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
		fi;
		it++
	od
}

active proctype Switcher()
{
	bit old, commit;
	bit evd[NOPS];                         /* evicted by this switch */
	bit evsh[NOPS];                        /* and the shard each counted on, read with it */
	byte i, n = 0;
	do
	:: n == MAXSW -> break
	:: n < MAXSW ->
		n++;
		old = state;
		gate = CLOSED;                         /* CLOSE (XCHG) */
#if !defined(NOWAKE) && !defined(NODRAIN)
		i = 0;
		do
		:: i < NOPS ->
			if
			:: old == PV ->                    /* EVICT every registered sleeper */
				atomic {
					if
					:: reg[i] == ASLEEP -> reg[i] = EVICTED; evd[i] = 1; evsh[i] = opsh[i]; evout++
					:: else -> skip
					fi
				}
				if
				:: evd[i] ->
#ifndef NOEVICTCLEAR
					atomic {
						if
						:: word == 7 -> word = 3
						:: word == 4 -> word = 0
						:: else -> skip
						fi
					}
		#endif
					waiters--;
					assert(count[evsh[i]] > 0);
					count[evsh[i]]--
				:: else -> skip
				fi
			:: else ->                         /* WAKE every registered sleeper */
				if
				:: reg[i] == ASLEEP -> sema++
				:: else -> skip
				fi
			fi;
			i++
		:: else -> break
		od;
#endif
#ifndef NODRAIN
#ifdef ABORT
		if
		:: (count[0] == 0) && (count[1] == 0) -> commit = 1   /* DRAIN: the count is zero */
		:: true -> commit = 0                                 /* or the bound passed: give up */
		fi;
#else
		(count[0] == 0);                       /* DRAIN: shard by shard */
		(count[1] == 0);
		commit = 1;
#endif
#else
		commit = 1;
#endif
		i = 0;
		do                                     /* settle the evicted */
		:: i < NOPS ->
			if
			:: evd[i] && commit ->
#ifndef NOEVICTWAKE
				sema++
#else
				skip
#endif
			:: evd[i] && !commit ->
#ifndef NOEVICTRESTORE
				count[evsh[i]]++;              /* counted again first */
				waiters++;
				atomic {
					if
					:: reg[i] == EVICTED -> reg[i] = ASLEEP; evout--
					:: else -> waiters--; count[evsh[i]]--   /* it woke meanwhile */
					fi
				};
#ifndef NORESTOREKICK
				/* and a kick, restored or not: a release may have skipped
				 * its kick while the waiter was not counted, or the waiter
				 * may have taken, evicted, a kick meant for a sleeper that
				 * re-marks the word, and written nothing */
				sema++
#endif
#else
				skip
#endif
			:: else -> skip
			fi;
			evd[i] = 0;
			i++
		:: else -> break
		od;
		if
		:: commit ->
			site = 1 - old;                    /* COMMIT */
			state = 1 - old
		:: else -> skip
		fi;
		gate = OPEN                            /* OPEN */
	od
}
