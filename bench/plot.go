package bench

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plot files (each written as .png and .svg by WriteFiles):
//
//	threads-cs20, threads-cs200  throughput vs locked threads, one line per lock
//	oversub                      throughput vs antagonist processes (2 locked threads)
//	cs                           throughput vs critical-section length (8 locked threads)
//	timeline                     throughput over time of the switched row, switches marked
//	switch-cdf                   CDF of switch wall times
//	latency                      acquisition latency percentiles per lock (case LatencyCase)
//
// A plot whose rows the suite did not measure is not written.

// LatencyCase is the case the latency plot shows (the first case when the
// report has no such case).
const LatencyCase = "locked-32-cs20"

// lockColors has one colour per lock of AllLocks, in order.
var lockColors = []color.Color{
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, // native: red
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, // paravirt: green
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, // auto: purple
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, // switched: orange
	color.RGBA{R: 0xe3, G: 0x77, B: 0xc2, A: 0xff}, // flag-native: pink
	color.RGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff}, // flag-paravirt: cyan
	color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}, // ttas: grey
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, // sync.Mutex: blue
}

// lockStyle gives each lock the same colour and glyph in every plot.
func lockStyle(l Lock) (color.Color, draw.GlyphDrawer) {
	i := slices.Index(AllLocks, l)
	return lockColors[i%len(lockColors)], plotutil.Shape(i)
}

// WriteFiles writes rep into dir: results.json, results.csv, table.md and
// the plots (see the list above). It returns the paths written.
func WriteFiles(rep *Report, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	write := func(name string, f func(*os.File) error) error {
		p := filepath.Join(dir, name)
		fh, err := os.Create(p)
		if err != nil {
			return err
		}
		if err := f(fh); err != nil {
			fh.Close()
			return fmt.Errorf("bench: write %s: %w", p, err)
		}
		files = append(files, p)
		return fh.Close()
	}
	if err := write("results.json", func(f *os.File) error { return rep.WriteJSON(f) }); err != nil {
		return files, err
	}
	if err := write("results.csv", func(f *os.File) error { return rep.WriteCSV(f) }); err != nil {
		return files, err
	}
	if err := write("table.md", func(f *os.File) error { _, err := f.WriteString(Markdown(rep, "./")); return err }); err != nil {
		return files, err
	}
	plots := buildPlots(rep)
	names := plotNames(rep)
	for _, n := range names {
		for _, ext := range []string{".png", ".svg"} {
			p := filepath.Join(dir, n+ext)
			if err := plots[n].Save(16*vg.Centimeter, 10*vg.Centimeter, p); err != nil {
				return files, fmt.Errorf("bench: plot %s: %w", p, err)
			}
			files = append(files, p)
		}
	}
	return files, nil
}

// plotNames returns the plots rep has data for, sorted.
func plotNames(rep *Report) []string {
	var names []string
	for n := range buildPlots(rep) {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// buildPlots returns every plot rep has data for, by file name.
func buildPlots(rep *Report) map[string]*plot.Plot {
	plots := map[string]*plot.Plot{}
	for _, g := range []struct{ name, title, x string }{
		{"threads-cs20", "Throughput vs locked OS threads (CS 20 multiply-adds)", "locked OS threads (GOMAXPROCS = threads)"},
		{"threads-cs200", "Throughput vs locked OS threads (CS 200 multiply-adds)", "locked OS threads (GOMAXPROCS = threads)"},
		{"oversub", "Oversubscription: 2 locked threads + CPU-hog processes", "antagonist processes"},
		{"cs", "Throughput vs critical-section length (8 locked threads)", "critical section (multiply-adds)"},
	} {
		if p := sweepPlot(rep, g.name, g.title, g.x); p != nil {
			plots[g.name] = p
		}
	}
	if p := timelinePlot(rep); p != nil {
		plots["timeline"] = p
	}
	if p := switchCDFPlot(rep); p != nil {
		plots["switch-cdf"] = p
	}
	if p := latencyPlot(rep); p != nil {
		plots["latency"] = p
	}
	return plots
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, x, y
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

// sweepPlot draws median throughput against the sweep's x for every lock,
// the x values evenly spaced and labelled, with min..max bars.
func sweepPlot(rep *Report, group, title, xlabel string) *plot.Plot {
	var xs []float64
	byLock := map[Lock][]*Row{}
	for _, r := range rep.Rows {
		if r.Plot != group || r.Skipped != "" || len(r.Samples) == 0 {
			continue
		}
		if !slices.Contains(xs, r.X) {
			xs = append(xs, r.X)
		}
		byLock[r.Lock] = append(byLock[r.Lock], r)
	}
	if len(byLock) == 0 {
		return nil
	}
	slices.Sort(xs)
	p := newPlot(title, xlabel, "throughput (Mops/s, median; bars: min..max)")
	var ticks []plot.Tick
	for i, x := range xs {
		ticks = append(ticks, plot.Tick{Value: float64(i), Label: strconv.FormatFloat(x, 'f', -1, 64)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = -0.3, float64(len(xs)-1)+0.3
	p.Y.Min = 0
	for _, l := range AllLocks {
		rows := byLock[l]
		if len(rows) == 0 {
			continue
		}
		var pts plotter.XYs
		var errs plotter.YErrors
		for _, r := range rows {
			x := float64(slices.Index(xs, r.X))
			pts = append(pts, plotter.XY{X: x, Y: r.OpsPerSec / 1e6})
			errs = append(errs, struct{ Low, High float64 }{(r.OpsPerSec - r.OpsPerSecMin) / 1e6, (r.OpsPerSecMax - r.OpsPerSec) / 1e6})
		}
		line, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			continue
		}
		c, g := lockStyle(l)
		line.Color, sc.Color, sc.Shape = c, c, g
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{pts, errs})
		if err == nil {
			eb.Color = c
			p.Add(eb)
		}
		p.Add(line, sc)
		p.Legend.Add(string(l), line, sc)
	}
	return p
}

// switchedSample returns the switched row and its first sample with switches.
func switchedSample(rep *Report) (*Row, *Sample) {
	for _, r := range rep.Rows {
		if r.Lock != Switched {
			continue
		}
		for i := range r.Samples {
			if len(r.Samples[i].Timeline) > 0 {
				return r, &r.Samples[i]
			}
		}
	}
	return nil, nil
}

// timelinePlot draws the switched row's throughput over time with each
// completed switch marked at the top (triangle: to paravirt; circle: to
// native).
func timelinePlot(rep *Report) *plot.Plot {
	r, s := switchedSample(rep)
	if s == nil {
		return nil
	}
	p := newPlot(fmt.Sprintf("Phase timeline: %s, switched every %v", r.Case, r.Workload.SwitchEvery),
		"time (ms)", "throughput (Mops/s per 20 ms)")
	var pts plotter.XYs
	top := 0.0
	for _, tp := range s.Timeline {
		pts = append(pts, plotter.XY{X: ms(tp.T), Y: tp.OpsPerSec / 1e6})
		top = max(top, tp.OpsPerSec/1e6)
	}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return nil
	}
	line.Color, _ = lockStyle(Switched)
	p.Add(line)
	p.Legend.Add("ops/s", line)
	p.Legend.Top = false // the switch marks run along the top
	for i, mode := range []string{"paravirt", "native"} {
		var mk plotter.XYs
		for _, m := range s.Modes {
			if m.Mode == mode {
				mk = append(mk, plotter.XY{X: ms(m.T), Y: top * 1.05})
			}
		}
		if len(mk) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(mk)
		if err != nil {
			continue
		}
		sc.Color = lockColors[[]int{1, 0}[i]]
		sc.Shape = []draw.GlyphDrawer{draw.TriangleGlyph{}, draw.CircleGlyph{}}[i]
		p.Add(sc)
		p.Legend.Add("switch to "+mode, sc)
	}
	p.Y.Min = 0
	return p
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// switchCDFPlot draws the CDF of every switch wall time of the switched rows.
func switchCDFPlot(rep *Report) *plot.Plot {
	var all []time.Duration
	for _, r := range rep.Rows {
		if r.Lock == Switched {
			for _, s := range r.Samples {
				all = append(all, s.Switches...)
			}
		}
	}
	if len(all) == 0 {
		return nil
	}
	slices.Sort(all)
	p := newPlot(fmt.Sprintf("Switch wall time CDF (%d switches)", len(all)), "switch wall time (us, log)", "fraction of switches")
	var pts plotter.XYs
	for i, d := range all {
		pts = append(pts, plotter.XY{X: max(float64(d)/1e3, 1), Y: float64(i+1) / float64(len(all))})
	}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return nil
	}
	line.Color, _ = lockStyle(Switched)
	p.Add(line)
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1
	return p
}

// latencyPlot draws p50, p99, p99.9 and max of sampled acquisition latency
// for every lock of LatencyCase (log scale).
func latencyPlot(rep *Report) *plot.Plot {
	caseName := LatencyCase
	if rep.Row(caseName, Mutex) == nil && len(rep.Rows) > 0 {
		caseName = rep.Rows[0].Case
	}
	p := newPlot("Acquisition latency percentiles: "+caseName, "percentile", "latency (ns, log; sampled)")
	p.Legend.Left = true
	labels := []string{"p50", "p99", "p99.9", "max"}
	var ticks []plot.Tick
	for i, l := range labels {
		ticks = append(ticks, plot.Tick{Value: float64(i), Label: l})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = -0.3, 3.3
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	n := 0
	for _, r := range rep.Rows {
		if r.Case != caseName || r.Skipped != "" || r.Latency.Samples == 0 {
			continue
		}
		l := r.Latency
		pts := plotter.XYs{{X: 0, Y: float64(max(l.P50, 1))}, {X: 1, Y: float64(max(l.P99, 1))}, {X: 2, Y: float64(max(l.P999, 1))}, {X: 3, Y: float64(max(l.Max, 1))}}
		line, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			continue
		}
		c, g := lockStyle(r.Lock)
		line.Color, sc.Color, sc.Shape = c, c, g
		p.Add(line, sc)
		p.Legend.Add(string(r.Lock), line, sc)
		n++
	}
	if n == 0 {
		return nil
	}
	return p
}
