package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// HTML writes the report as one self-contained HTML page: inline CSS and
// SVG, no scripts, no external resources. Key elements have stable ids:
// "summary", "coverage", "route", "temp-chart-<sensor>", "seals",
// "events", "cold-chain".
func (r *Report) HTML(w io.Writer) error {
	return pageTemplate.Execute(w, newPage(r))
}

// Geometry of the SVG figures, in viewBox units.
const (
	figW        = 1000.0
	routeMinH   = 260.0
	routeMaxH   = 540.0
	routePad    = 36.0
	chartH      = 300.0
	chartLeft   = 64.0
	chartRight  = 150.0 // room for limit labels
	chartTop    = 26.0
	chartBottom = 44.0
	maxPolyline = 4000 // points drawn per polyline; more are thinned
)

type page struct {
	R         *Report
	Title     string
	Period    string
	Window    string
	Kinds     string
	Seq       string
	Covered   bool
	CpTime    string
	CpLast    int64
	Route     *routeView
	Charts    []chartView
	SealRows  []sealRow
	Events    []eventRow
	Cold      []coldRow
	Generated string
}

func newPage(r *Report) *page {
	p := &page{R: r, Title: "Voyage report " + r.Container, Covered: r.Coverage.Covered, Generated: fmtTime(r.GeneratedAt)}
	if r.FirstReading != nil {
		p.Period = fmtTime(*r.FirstReading) + " – " + fmtTime(*r.LastReading)
		if d := r.LastReading.Sub(*r.FirstReading); d > 0 {
			p.Period += " (" + fmtDur(d.Seconds()) + ")"
		}
	} else {
		p.Period = "no readings"
	}
	switch {
	case r.From != nil && r.To != nil:
		p.Window = fmtTime(*r.From) + " – " + fmtTime(*r.To)
	case r.From != nil:
		p.Window = "from " + fmtTime(*r.From)
	case r.To != nil:
		p.Window = "until " + fmtTime(*r.To)
	default:
		p.Window = "whole log"
	}
	kinds := make([]string, 0, len(r.Kinds))
	for k, n := range r.Kinds {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	p.Kinds = strings.Join(kinds, ", ")
	if r.Seq != nil {
		p.Seq = fmt.Sprintf("seq %d–%d", r.Seq.First, r.Seq.Last)
	}
	if cp := r.Coverage.Checkpoint; cp != nil {
		p.CpTime = fmtTime(cp.Time)
		p.CpLast = cp.Size - 1
	}
	p.Events = eventRows(r)
	p.Route = newRouteView(r, p.Events)
	for _, s := range r.Temperatures {
		p.Charts = append(p.Charts, newChartView(s, p.Events))
		p.Cold = append(p.Cold, newColdRow(s))
	}
	p.SealRows = sealRows(r.Seals)
	return p
}

// ---- route ----

type routeView struct {
	W, H     float64
	Points   string
	Grid     []gridLine
	Marks    []mark
	Fixes    int
	Distance string
	Bounds   string
}

type gridLine struct {
	X1, Y1, X2, Y2 float64
	LX, LY         float64
	Label          string
	Anchor         string
}

type mark struct {
	X, Y  float64
	Shape string // "start", "end", "seal", "event"
	Label string
	Title string
}

func newRouteView(r *Report, events []eventRow) *routeView {
	fixes := r.Route
	if len(fixes) == 0 {
		return nil
	}
	// Unwrap longitudes so that a route across the antimeridian stays
	// continuous.
	lons := make([]float64, len(fixes))
	off := 0.0
	for i, f := range fixes {
		if i > 0 {
			d := f.Lon + off - lons[i-1]
			if d > 180 {
				off -= 360
			} else if d < -180 {
				off += 360
			}
		}
		lons[i] = f.Lon + off
	}
	minLat, maxLat := fixes[0].Lat, fixes[0].Lat
	minLon, maxLon := lons[0], lons[0]
	for i, f := range fixes {
		minLat, maxLat = math.Min(minLat, f.Lat), math.Max(maxLat, f.Lat)
		minLon, maxLon = math.Min(minLon, lons[i]), math.Max(maxLon, lons[i])
	}
	v := &routeView{W: figW, Fixes: len(fixes)}
	v.Bounds = fmt.Sprintf("%s to %s, %s to %s", latLabel(minLat, 0.01), latLabel(maxLat, 0.01), lonLabel(minLon, 0.01), lonLabel(maxLon, 0.01))
	var metres float64
	for i := 1; i < len(fixes); i++ {
		metres += haversine(fixes[i-1].Lat, fixes[i-1].Lon, fixes[i].Lat, fixes[i].Lon)
	}
	v.Distance = fmt.Sprintf("%s km (%s nmi)", group(metres/1000), group(metres/1852))

	// Pad the bounds, then project: equirectangular, x scaled by the
	// cosine of the middle latitude.
	padLat := math.Max((maxLat-minLat)*0.06, 0.005)
	padLon := math.Max((maxLon-minLon)*0.06, 0.005)
	minLat, maxLat = math.Max(minLat-padLat, -90), math.Min(maxLat+padLat, 90)
	minLon, maxLon = minLon-padLon, maxLon+padLon
	k := math.Max(math.Cos((minLat+maxLat)/2*math.Pi/180), 0.05)
	dx, dy := (maxLon-minLon)*k, maxLat-minLat
	s := (figW - 2*routePad) / dx
	h := dy*s + 2*routePad
	if h > routeMaxH {
		s = (routeMaxH - 2*routePad) / dy
		h = routeMaxH
	}
	h = math.Max(h, routeMinH)
	ox := (figW - dx*s) / 2
	oy := (h - dy*s) / 2
	v.H = h
	px := func(lon float64) float64 { return ox + (lon-minLon)*k*s }
	py := func(lat float64) float64 { return oy + (maxLat-lat)*s }

	// Grid.
	span := math.Max(maxLat-minLat, maxLon-minLon)
	step := niceDegrees(span)
	for lat := math.Ceil(minLat/step) * step; lat <= maxLat; lat += step {
		y := py(lat)
		v.Grid = append(v.Grid, gridLine{X1: 0, Y1: y, X2: figW, Y2: y, LX: 4, LY: y - 3, Label: latLabel(lat, step), Anchor: "start"})
	}
	for lon := math.Ceil(minLon/step) * step; lon <= maxLon; lon += step {
		x := px(lon)
		v.Grid = append(v.Grid, gridLine{X1: x, Y1: 0, X2: x, Y2: h, LX: x + 3, LY: h - 5, Label: lonLabel(lon, step), Anchor: "start"})
	}

	idx := thin(len(fixes), maxPolyline)
	var b strings.Builder
	for _, i := range idx {
		fmt.Fprintf(&b, "%.1f,%.1f ", px(lons[i]), py(fixes[i].Lat))
	}
	v.Points = strings.TrimSpace(b.String())

	first, last := fixes[0], fixes[len(fixes)-1]
	v.Marks = append(v.Marks,
		mark{X: px(lons[0]), Y: py(first.Lat), Shape: "start", Label: "Start", Title: fmt.Sprintf("Start: %s, %s (seq %d)", fmtTime(first.Time), latLon(first.Lat, first.Lon), first.Seq)},
		mark{X: px(lons[len(lons)-1]), Y: py(last.Lat), Shape: "end", Label: "End", Title: fmt.Sprintf("End: %s, %s (seq %d)", fmtTime(last.Time), latLon(last.Lat, last.Lon), last.Seq)},
	)
	// nearest returns the projected position of the fix closest in time.
	nearest := func(t time.Time) (float64, float64) {
		i := sort.Search(len(fixes), func(i int) bool { return !fixes[i].Time.Before(t) })
		switch {
		case i == len(fixes):
			i--
		case i > 0 && t.Sub(fixes[i-1].Time) < fixes[i].Time.Sub(t):
			i--
		}
		return px(lons[i]), py(fixes[i].Lat)
	}
	for n, sc := range sealChanges(r.Seals) {
		x, y := nearest(sc.Time)
		if sc.Lat != nil {
			lon := *sc.Lon
			for lon-minLon > 180 {
				lon -= 360
			}
			for minLon-lon > 180 {
				lon += 360
			}
			x, y = px(lon), py(*sc.Lat)
		}
		v.Marks = append(v.Marks, mark{X: x, Y: y, Shape: "seal", Label: fmt.Sprintf("S%d", n+1),
			Title: fmt.Sprintf("Seal %s %s at %s (seq %d)", sc.SealID, sc.State, fmtTime(sc.Time), sc.Seq)})
	}
	for _, e := range events {
		x, y := nearest(e.At)
		v.Marks = append(v.Marks, mark{X: x, Y: y, Shape: "event", Label: e.Label, Title: e.Label + ": " + e.Summary})
	}
	return v
}

// sealChanges are the seal readings whose state differs from that seal's
// previous reading, and the first of each seal.
func sealChanges(seals []SealRecord) []SealRecord {
	var out []SealRecord
	prev := map[string]string{}
	for _, s := range seals {
		key := s.Sensor + "\x00" + s.SealID
		if st, ok := prev[key]; !ok || st != s.State {
			out = append(out, s)
		}
		prev[key] = s.State
	}
	return out
}

// ---- temperature charts ----

type chartView struct {
	ID, Sensor, Probe string
	W, H              float64
	X0, X1, Y0, Y1    float64 // plot box
	PH                float64 // plot height
	Points            string
	Dots              []pt
	XTicks, YTicks    []tick
	Limits            []limitLine
	Shades            []shade
	Evidence          []shade
	Events            []evMark
	Summary           string
	Empty             bool
}

type pt struct{ X, Y float64 }

type tick struct {
	Pos   float64
	Label string
}

type limitLine struct {
	Y     float64
	Label string
}

type shade struct {
	X, W  float64
	Title string
}

type evMark struct {
	X     float64
	Label string
	Title string
}

func newChartView(s Series, events []eventRow) chartView {
	c := chartView{ID: "temp-chart-" + idSafe(s.Sensor), Sensor: s.Sensor, Probe: s.Probe, W: figW, H: chartH,
		X0: chartLeft, X1: figW - chartRight, Y0: chartTop, Y1: chartH - chartBottom, PH: chartH - chartBottom - chartTop}
	pts := s.Points
	if len(pts) == 0 {
		c.Empty = true
		return c
	}
	t0, t1 := pts[0].Time, pts[len(pts)-1].Time
	if !t1.After(t0) {
		t0, t1 = t0.Add(-30*time.Minute), t1.Add(30*time.Minute)
	}
	lo, hi := pts[0].Celsius, pts[0].Celsius
	for _, p := range pts {
		lo, hi = math.Min(lo, p.Celsius), math.Max(hi, p.Celsius)
	}
	for _, l := range []*float64{s.AboveC, s.BelowC} {
		if l != nil {
			lo, hi = math.Min(lo, *l), math.Max(hi, *l)
		}
	}
	if hi-lo < 1 {
		mid := (hi + lo) / 2
		lo, hi = mid-0.5, mid+0.5
	}
	ystep := niceStep((hi - lo) / 6)
	lo = math.Floor(lo/ystep) * ystep
	hi = math.Ceil(hi/ystep) * ystep
	if hi == lo {
		hi += ystep
	}
	span := t1.Sub(t0).Seconds()
	x := func(t time.Time) float64 { return c.X0 + t.Sub(t0).Seconds()/span*(c.X1-c.X0) }
	y := func(v float64) float64 { return c.Y1 - (v-lo)/(hi-lo)*(c.Y1-c.Y0) }

	dec := decimals(ystep)
	for v := lo; v <= hi+ystep/1000; v += ystep {
		c.YTicks = append(c.YTicks, tick{Pos: y(v), Label: fmt.Sprintf("%.*f", dec, v+0)})
	}
	tstep, layout := timeStep(t1.Sub(t0))
	for t := alignTime(t0, tstep); !t.After(t1); t = t.Add(tstep) {
		if t.Before(t0) {
			continue
		}
		c.XTicks = append(c.XTicks, tick{Pos: x(t), Label: t.UTC().Format(layout)})
	}

	// A step line where the steps can be seen: each reading holds until
	// the next, as the cold-chain figures and the excursion intervals
	// count it. Denser series are drawn point to point, which differs by
	// less than the width of a step.
	var b strings.Builder
	idx := minMaxThin(pts, int(c.X1-c.X0))
	steps := (c.X1-c.X0)/float64(len(idx)) >= 6
	for k, i := range idx {
		if k > 0 && steps {
			fmt.Fprintf(&b, "%.1f,%.1f ", x(pts[i].Time), y(pts[idx[k-1]].Celsius))
		}
		fmt.Fprintf(&b, "%.1f,%.1f ", x(pts[i].Time), y(pts[i].Celsius))
	}
	c.Points = strings.TrimSpace(b.String())
	if len(pts) <= 80 {
		for _, p := range pts {
			c.Dots = append(c.Dots, pt{x(p.Time), y(p.Celsius)})
		}
	}
	if s.AboveC != nil {
		c.Limits = append(c.Limits, limitLine{Y: y(*s.AboveC), Label: fmt.Sprintf("limit above %s", fmtC(*s.AboveC))})
	}
	if s.BelowC != nil {
		c.Limits = append(c.Limits, limitLine{Y: y(*s.BelowC), Label: fmt.Sprintf("limit below %s", fmtC(*s.BelowC))})
	}
	for _, e := range s.Excursions {
		x0, x1 := x(e.From), x(e.To)
		c.Shades = append(c.Shades, shade{X: x0, W: math.Max(x1-x0, 3),
			Title: fmt.Sprintf("%s %s from %s to %s (%s), peak %s, seq %d–%d", e.Kind, fmtC(e.LimitC), fmtTime(e.From), fmtTime(e.To), fmtDur(e.To.Sub(e.From).Seconds()), fmtC(e.PeakC), e.FromSeq, e.ToSeq)})
	}
	bySeq := make(map[int64]time.Time, len(pts))
	for _, p := range pts {
		bySeq[p.Seq] = p.Time
	}
	for _, e := range events {
		if e.Sensor != s.Sensor || e.At.Before(t0) || e.At.After(t1) {
			continue
		}
		c.Events = append(c.Events, evMark{X: x(e.At), Label: e.Label, Title: e.Label + ": " + e.Summary})
		if e.FromSeq != nil && e.ToSeq != nil {
			from, ok1 := bySeq[*e.FromSeq]
			to, ok2 := bySeq[*e.ToSeq]
			if ok1 && ok2 {
				c.Evidence = append(c.Evidence, shade{X: x(from), W: math.Max(x(to)-x(from), 1.5), Title: e.Label + " evidence: " + e.Evidence})
			}
		}
	}
	n := len(pts)
	c.Summary = fmt.Sprintf("%d readings, %s to %s", n, fmtTime(pts[0].Time), fmtTime(pts[n-1].Time))
	return c
}

// ---- tables ----

type sealRow struct {
	Time, Seq, SealID, State, Event, Sensor string
	Change                                  bool
}

// sealRows lists the seal history, folding runs of heartbeats that report
// an unchanged state into one row.
func sealRows(seals []SealRecord) []sealRow {
	var out []sealRow
	prev := map[string]string{}
	for i := 0; i < len(seals); {
		s := seals[i]
		key := s.Sensor + "\x00" + s.SealID
		st, seen := prev[key]
		change := !seen || st != s.State
		prev[key] = s.State
		if s.Event == "heartbeat" && !change {
			j := i + 1
			for j < len(seals) && seals[j].Event == "heartbeat" && seals[j].Sensor == s.Sensor && seals[j].SealID == s.SealID && seals[j].State == s.State {
				j++
			}
			last := seals[j-1]
			row := sealRow{Time: fmtTime(s.Time), Seq: fmt.Sprintf("seq %d", s.Seq), SealID: s.SealID, State: s.State, Event: "heartbeat", Sensor: s.Sensor}
			if j-i > 1 {
				row.Time = fmtTime(s.Time) + " – " + fmtTime(last.Time)
				row.Seq = fmt.Sprintf("seq %d–%d", s.Seq, last.Seq)
				row.Event = fmt.Sprintf("%d heartbeats", j-i)
			}
			out = append(out, row)
			i = j
			continue
		}
		out = append(out, sealRow{Time: fmtTime(s.Time), Seq: fmt.Sprintf("seq %d", s.Seq), SealID: s.SealID, State: s.State, Event: s.Event, Sensor: s.Sensor, Change: change})
		i++
	}
	return out
}

type eventRow struct {
	Label, Time, Rule, Kind, Sensor, Detail string
	Seq                                     int64
	Evidence                                string
	Values                                  string
	Export, Verify                          string
	Summary                                 string
	At                                      time.Time
	FromSeq, ToSeq                          *int64
}

func eventRows(r *Report) []eventRow {
	var out []eventRow
	for i, e := range r.Events {
		row := eventRow{Label: fmt.Sprintf("E%d", i+1), Time: fmtTime(e.Time), Rule: e.Rule, Kind: e.Kind, Sensor: e.Sensor,
			Detail: e.Detail, Seq: e.Seq, At: e.Time, FromSeq: e.FromSeq, ToSeq: e.ToSeq}
		switch {
		case e.FromSeq != nil && e.ToSeq != nil && *e.FromSeq != *e.ToSeq:
			row.Evidence = fmt.Sprintf("seq %d–%d", *e.FromSeq, *e.ToSeq)
		case e.FromSeq != nil:
			row.Evidence = fmt.Sprintf("seq %d", *e.FromSeq)
		case e.ToSeq != nil:
			row.Evidence = fmt.Sprintf("seq %d", *e.ToSeq)
		}
		keys := make([]string, 0, len(e.Values))
		for k := range e.Values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var vals []string
		for _, k := range keys {
			vals = append(vals, k+" = "+fmtValue(e.Values[k]))
		}
		row.Values = strings.Join(vals, "; ")
		file := strings.ToLower(row.Label) + ".json"
		row.Export = fmt.Sprintf("tally export --seq %d --out %s", e.Seq, file)
		row.Verify = "tally verify " + file
		what := e.Detail
		if what == "" {
			what = e.Rule + " " + e.Kind
		}
		row.Summary = fmt.Sprintf("%s at %s (seq %d)", what, fmtTime(e.Time), e.Seq)
		if row.Evidence != "" {
			row.Summary += ", evidence " + row.Evidence
		}
		out = append(out, row)
	}
	return out
}

type coldRow struct {
	Sensor, Probe                   string
	Samples                         string
	Min, Max, Mean, MKT             string
	AboveLimit, AboveTime           string
	BelowLimit, BelowTime           string
	AboveAlarm, BelowAlarm, Missing bool
}

func newColdRow(s Series) coldRow {
	r := coldRow{Sensor: s.Sensor, Probe: s.Probe, AboveLimit: "none", BelowLimit: "none", AboveTime: "—", BelowTime: "—"}
	if s.AboveC != nil {
		r.AboveLimit = fmtC(*s.AboveC)
	}
	if s.BelowC != nil {
		r.BelowLimit = fmtC(*s.BelowC)
	}
	cc := s.ColdChain
	if cc == nil {
		r.Missing = true
		r.Samples = fmt.Sprint(len(s.Points))
		return r
	}
	r.Samples = fmt.Sprint(cc.Samples)
	r.Min, r.Max, r.Mean, r.MKT = fmtC(cc.MinC), fmtC(cc.MaxC), fmtC(cc.MeanC), fmtC(cc.MKTC)
	if cc.AboveS != nil {
		r.AboveTime = fmtDur(*cc.AboveS)
		r.AboveAlarm = *cc.AboveS > 0
	}
	if cc.BelowS != nil {
		r.BelowTime = fmtDur(*cc.BelowS)
		r.BelowAlarm = *cc.BelowS > 0
	}
	return r
}

// ---- scales and formatting ----

// niceDegrees is a grid step giving at most about eight lines over span.
func niceDegrees(span float64) float64 {
	for _, s := range []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 30, 45, 60, 90} {
		if span/s <= 8 {
			return s
		}
	}
	return 90
}

// niceStep rounds raw up to 1, 2, 2.5 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// decimals is how many decimals labels at this step need.
func decimals(step float64) int {
	d := 0
	for d < 4 && math.Abs(step*math.Pow(10, float64(d))-math.Round(step*math.Pow(10, float64(d)))) > 1e-9 {
		d++
	}
	return d
}

// timeStep picks a tick interval giving at most about eight ticks over
// span, and a label layout to go with it.
func timeStep(span time.Duration) (time.Duration, string) {
	steps := []time.Duration{time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
		24 * time.Hour, 2 * 24 * time.Hour, 4 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour,
		91 * 24 * time.Hour, 365 * 24 * time.Hour}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span/s <= 8 {
			step = s
			break
		}
	}
	switch {
	case step >= 24*time.Hour:
		return step, "Jan 2"
	case step >= time.Minute && span > 24*time.Hour:
		return step, "Jan 2 15:04"
	case step >= time.Minute:
		return step, "15:04"
	}
	return step, "15:04:05"
}

// alignTime rounds t down to a multiple of step in UTC (days from
// midnight UTC).
func alignTime(t time.Time, step time.Duration) time.Time {
	return time.Unix(t.Unix()/int64(step/time.Second)*int64(step/time.Second), 0).UTC()
}

// thin returns at most max indexes of n, evenly spread, keeping the first
// and the last.
func thin(n, max int) []int {
	if n <= max {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := make([]int, 0, max)
	for k := range max {
		out = append(out, int(math.Round(float64(k)*float64(n-1)/float64(max-1))))
	}
	return out
}

// minMaxThin keeps, for a series too dense to draw, the lowest and the
// highest reading of each of buckets time buckets, so that no peak is lost.
func minMaxThin(pts []TempPoint, buckets int) []int {
	if len(pts) <= 2*buckets || buckets < 1 {
		return thin(len(pts), len(pts))
	}
	t0 := pts[0].Time
	span := pts[len(pts)-1].Time.Sub(t0)
	var out []int
	for i := 0; i < len(pts); {
		b := int(float64(pts[i].Time.Sub(t0)) / float64(span) * float64(buckets-1))
		lo, hi := i, i
		j := i
		for ; j < len(pts) && int(float64(pts[j].Time.Sub(t0))/float64(span)*float64(buckets-1)) == b; j++ {
			if pts[j].Celsius < pts[lo].Celsius {
				lo = j
			}
			if pts[j].Celsius > pts[hi].Celsius {
				hi = j
			}
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		out = append(out, lo)
		if hi != lo {
			out = append(out, hi)
		}
		i = j
	}
	return out
}

func latLabel(lat, step float64) string {
	d := decimals(step)
	switch {
	case math.Abs(lat) < step/1000:
		return "0°"
	case lat > 0:
		return fmt.Sprintf("%.*f°N", d, lat)
	}
	return fmt.Sprintf("%.*f°S", d, -lat)
}

func lonLabel(lon, step float64) string {
	lon = math.Mod(lon+540, 360) - 180
	d := decimals(step)
	switch {
	case math.Abs(lon) < step/1000 || math.Abs(math.Abs(lon)-180) < step/1000:
		if lon < 0 {
			lon = -lon
		}
		return fmt.Sprintf("%.*f°", d, lon)
	case lon > 0:
		return fmt.Sprintf("%.*f°E", d, lon)
	}
	return fmt.Sprintf("%.*f°W", d, -lon)
}

func latLon(lat, lon float64) string {
	return latLabel(lat, 0.0001) + " " + lonLabel(lon, 0.0001)
}

// haversine is the great-circle distance in metres.
func haversine(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371008.8
	φ1, φ2 := lat1*math.Pi/180, lat2*math.Pi/180
	dφ, dλ := φ2-φ1, (lon2-lon1)*math.Pi/180
	a := math.Sin(dφ/2)*math.Sin(dφ/2) + math.Cos(φ1)*math.Cos(φ2)*math.Sin(dλ/2)*math.Sin(dλ/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

// group formats a whole number with thousands separators.
func group(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func fmtC(v float64) string { return fmt.Sprintf("%.1f °C", v+0) }

// fmtDur writes seconds for a reader: "0 s", "45 s", "12 min", "6 h 12 min", "3 d 4 h".
func fmtDur(sec float64) string {
	s := int64(math.Round(sec))
	switch {
	case s < 60:
		return fmt.Sprintf("%d s", s)
	case s < 3600:
		return fmt.Sprintf("%d min", s/60)
	case s < 48*3600:
		if m := s % 3600 / 60; m != 0 {
			return fmt.Sprintf("%d h %d min", s/3600, m)
		}
		return fmt.Sprintf("%d h", s/3600)
	}
	if h := s % 86400 / 3600; h != 0 {
		return fmt.Sprintf("%d d %d h", s/86400, h)
	}
	return fmt.Sprintf("%d d", s/86400)
}

func fmtValue(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ": " + fmtValue(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmtValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// idSafe makes s usable in an id attribute.
func idSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '-'
	}, s)
}

//go:embed page.html.tmpl
var pageHTML string

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"f":   func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"add": func(a, b float64) float64 { return a + b },
}).Parse(pageHTML))
