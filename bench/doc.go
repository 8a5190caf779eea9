// Package bench measures pvlock's variants against each other and against
// sync.Mutex and a static TTAS reference, on workloads shaped by the number
// of threads, whether they are goroutines or goroutines locked to OS
// threads (GOMAXPROCS raised to match, so that the OS oversubscribes),
// critical-section length, work outside the lock, number of locks, share
// of writes, and CPU-hog antagonist processes. It is the library behind
// `pvswitch bench`.
//
// # How rows run
//
// A Suite is a list of Cases, each a Workload and the Locks compared on it.
// Runner.Run runs every case Reps times; within one repetition it runs the
// case's locks one after another (A B C A B C ...), so that the noise of a
// shared machine hits them alike: compare ratios within one report, not
// absolute numbers across machines. Rows that need the process-wide pvlock
// mode (native, paravirt, auto, switched, and the pvswitch_flagdispatch
// build's rows) run each in a fresh child process: the binary re-executed
// with ChildEnv=run, the row in SpecEnv and PVLOCK_MODE set; the child
// checks it started in the mode asked for. sync.Mutex and the TTAS
// reference run in the Runner's own process. Antagonists are the binary
// re-executed with ChildEnv=hog; they run through one repetition of a case
// and are killed when it ends, when the run fails or is canceled, and
// (Pdeathsig SIGKILL) when the runner dies. A binary that hosts a Runner
// must call ChildMain before anything else.
//
// # What is measured
//
// Per run (Sample): ops and throughput; acquisition latency (from the call
// of Lock to its return) of one acquisition in Workload.SampleEvery per
// worker (default 32, so reading the clock does not dominate the op),
// recorded in an HdrHistogram (2 significant digits) and reported as p50,
// p99, p99.9 and max; fairness as the fewest and most ops of one worker;
// the wall time of every switch (switched rows); pvlock's traps and
// statistics; a timeline of throughput every 20 ms with completed switches
// marked. Every run checks that the ops counted under the locks equal the
// ops the workers did, and that pvlock's backstop rescued no lost wakeup.
// Steal time, CPU pressure and the measuring process's run delay are read
// by internal/signals from the kernel just before the workers start and
// just after they stop (Signals); an input the kernel does not offer is
// named in Signals.Missing and in the report's notes, never made up.
//
// Per row (Row): medians over the repetitions, min..max of throughput, and
// VsMutex, the ratio of the median throughput to sync.Mutex's on the same
// case. EvaluateTargets sets the project's targets beside what was
// measured.
//
// # Files
//
// WriteFiles writes results.json (Report; SchemaVersion names its layout:
// the json tags of Report and the types it holds, durations in integer
// nanoseconds), results.csv (CSVHeader), table.md (Markdown) and the plots
// as PNG and SVG.
package bench
