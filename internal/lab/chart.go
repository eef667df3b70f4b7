package lab

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Chart sizes.
const (
	DefaultChartWidth  = 1200
	DefaultChartHeight = 720
	minChartWidth      = 400
	minChartHeight     = 300
)

// Chart colours.
var (
	chartBackground = color.RGBA{255, 255, 255, 255}
	chartAxis       = color.RGBA{60, 60, 60, 255}
	chartGrid       = color.RGBA{225, 225, 225, 255}
	chartFault      = color.RGBA{255, 214, 214, 255}
	chartImpact     = color.RGBA{230, 120, 0, 255}
	chartSuccess    = color.RGBA{30, 90, 200, 255}
	chartFailed     = color.RGBA{210, 30, 30, 255}
	chartP50        = color.RGBA{20, 150, 60, 255}
	chartP99        = color.RGBA{140, 40, 170, 255}
	chartThreshold  = color.RGBA{150, 150, 150, 255}
	chartText       = color.RGBA{20, 20, 20, 255}
)

// chartLayout is where the two panels are, in pixels.
type chartLayout struct {
	left, right      int // the plot area's x range (both panels)
	rateTop, rateBot int // the success-rate panel
	latTop, latBot   int // the latency panel
	seconds          int // the x axis runs from 0 to seconds
}

// x is the pixel column of t seconds, clamped to the plot.
func (l chartLayout) x(t float64) int {
	x := l.left + int(math.Round(t/float64(max(l.seconds, 1))*float64(l.right-l.left)))
	return min(max(x, l.left), l.right)
}

// WriteChart writes the incident graph of c as a PNG of width × height (0: the
// defaults) to w: the per-second end-user success rate (top) and p50/p99 latency on a
// log scale (bottom) over the run, with the fault shaded and the impact window marked.
func (c Scorecard) WriteChart(w io.Writer, width, height int) error {
	return png.Encode(w, c.ChartImage(width, height))
}

// WriteChartFile writes the chart to path.
func (c Scorecard) WriteChartFile(path string, width, height int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := c.WriteChart(f, width, height); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ChartImage draws the chart WriteChart encodes.
func (c Scorecard) ChartImage(width, height int) *image.RGBA {
	if width == 0 {
		width = DefaultChartWidth
	}
	if height == 0 {
		height = DefaultChartHeight
	}
	width, height = max(width, minChartWidth), max(height, minChartHeight)
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), &image.Uniform{chartBackground}, image.Point{}, draw.Src)

	plotH := height - 40 - 30 - 40 // title, gap between panels, x labels
	l := chartLayout{left: 78, right: width - 24, rateTop: 40, seconds: len(c.Seconds)}
	l.rateBot = l.rateTop + plotH*45/100
	l.latTop = l.rateBot + 30
	l.latBot = height - 40

	title := fmt.Sprintf("%s: %d end-user requests, %s failed", c.scenarioName(), c.EndUserRequests, shortPercent(c.EndUserFailureRate))
	if c.ImpactWindowS > 0 {
		title += fmt.Sprintf(", impact window %.1f s at %s failed", c.ImpactWindowS, shortPercent(c.ImpactWindowFailureRate))
	}
	if c.TimeToMitigateS != nil {
		title += fmt.Sprintf(", mitigated in %.1f s", *c.TimeToMitigateS)
	}
	chartLabel(img, l.left, 16, title, chartText)

	// The fault, shaded in both panels.
	if c.Fault != nil {
		for _, p := range [][2]int{{l.rateTop, l.rateBot}, {l.latTop, l.latBot}} {
			chartFill(img, image.Rect(l.x(c.Fault.StartS), p[0], max(l.x(c.Fault.EndS), l.x(c.Fault.StartS)+1), p[1]), chartFault)
		}
	}
	c.drawRate(img, l)
	c.drawLatency(img, l)
	// The impact window: dashed verticals at its ends, across both panels.
	if c.ImpactWindowS > 0 {
		for _, t := range []float64{c.ImpactWindow.StartS, c.ImpactWindow.EndS} {
			x := l.x(t)
			for y := l.rateTop; y < l.latBot; y += 8 {
				chartVLine(img, x, y, min(y+4, l.latBot), chartImpact)
			}
		}
	}
	// The x axis, shared.
	step := niceTickStep(float64(l.seconds), 12)
	for t := 0.0; t <= float64(l.seconds); t += step {
		x := l.x(t)
		chartVLine(img, x, l.latBot, l.latBot+4, chartAxis)
		chartVLine(img, x, l.rateBot, l.rateBot+4, chartAxis)
		s := fmt.Sprintf("%gs", t)
		chartLabel(img, x-len(s)*7/2, l.latBot+17, s, chartText)
	}
	legend := []struct {
		c    color.Color
		name string
	}{{chartSuccess, "success rate"}, {chartFailed, "second with failures"}, {chartP50, "p50"}, {chartP99, "p99"},
		{chartFault, "fault"}, {chartImpact, "impact window"}}
	x := l.left
	for _, e := range legend {
		chartFill(img, image.Rect(x, height-14, x+12, height-4), e.c)
		chartLabel(img, x+16, height-4, e.name, chartText)
		x += 16 + len(e.name)*7 + 18
	}
	return img
}

func (c Scorecard) scenarioName() string {
	if c.Scenario == "" {
		return "load"
	}
	return c.Scenario
}

// drawRate draws the success-rate panel: the y axis starts at the largest of 99.9,
// 99, 90, 50 and 0 % that is at most the lowest second, so that a dip of a hundredth
// of a percent shows as well as an outage.
func (c Scorecard) drawRate(img *image.RGBA, l chartLayout) {
	lowest := 1.0
	for _, s := range c.Seconds {
		lowest = min(lowest, s.SuccessRate())
	}
	lo := 0.0
	for _, v := range []float64{0.999, 0.99, 0.9, 0.5} {
		if lowest >= v {
			lo = v
			break
		}
	}
	y := func(v float64) int {
		return l.rateBot - int(math.Round((v-lo)/(1-lo)*float64(l.rateBot-l.rateTop)))
	}
	ticks := 5 // 50, 60 … 100; 90, 92 … 100; 99.0, 99.2 …; 99.90, 99.92 …
	if lo == 0 {
		ticks = 4 // 0, 25 … 100
	}
	for i := 0; i <= ticks; i++ {
		v := lo + (1-lo)*float64(i)/float64(ticks)
		chartHLine(img, l.left, l.right, y(v), chartGrid)
		s := fmt.Sprintf("%.*f%%", rateDecimals(lo), 100*v)
		chartLabel(img, l.left-8-len(s)*7, y(v)+4, s, chartText)
	}
	if th := c.Rules.Healthy; th > lo && th < 1 {
		for x := l.left; x < l.right; x += 6 {
			chartHLine(img, x, min(x+3, l.right), y(th), chartThreshold)
		}
	}
	chartFrame(img, l.left, l.rateTop, l.right, l.rateBot)
	chartLabel(img, l.left+4, l.rateTop+14, "end-user success rate per second", chartText)
	var px, py int
	for i, s := range c.Seconds {
		x, yy := l.x(float64(i)+0.5), y(s.SuccessRate())
		if i > 0 {
			chartLine(img, px, py, x, yy, chartSuccess)
		}
		if s.Failed > 0 {
			chartFill(img, image.Rect(x-3, yy-3, x+4, yy+4), chartFailed)
		}
		px, py = x, yy
	}
}

// drawLatency draws the latency panel on a log scale over whole decades.
func (c Scorecard) drawLatency(img *image.RGBA, l chartLayout) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range c.Seconds {
		for _, v := range []float64{s.P50ms, s.P99ms} {
			if v > 0 {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1, 10
	}
	dlo, dhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dhi <= dlo {
		dhi = dlo + 1
	}
	y := func(v float64) int {
		f := (math.Log10(v) - dlo) / (dhi - dlo)
		return l.latBot - int(math.Round(f*float64(l.latBot-l.latTop)))
	}
	for d := dlo; d <= dhi; d++ {
		v := math.Pow(10, d)
		chartHLine(img, l.left, l.right, y(v), chartGrid)
		s := formatTickMS(v)
		chartLabel(img, l.left-8-len(s)*7, y(v)+4, s, chartText)
	}
	chartFrame(img, l.left, l.latTop, l.right, l.latBot)
	chartLabel(img, l.left+4, l.latTop+14, "latency per second (p50, p99), log scale", chartText)
	for _, series := range []struct {
		v func(SecondStats) float64
		c color.Color
	}{{func(s SecondStats) float64 { return s.P50ms }, chartP50}, {func(s SecondStats) float64 { return s.P99ms }, chartP99}} {
		have := false
		var px, py int
		for i, s := range c.Seconds {
			v := series.v(s)
			if v <= 0 {
				have = false
				continue
			}
			x, yy := l.x(float64(i)+0.5), y(v)
			if have {
				chartLine(img, px, py, x, yy, series.c)
			} else {
				chartFill(img, image.Rect(x-1, yy-1, x+2, yy+2), series.c)
			}
			px, py, have = x, yy, true
		}
	}
}

func formatTickMS(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%gs", v/1000)
	default:
		return fmt.Sprintf("%gms", v)
	}
}

func rateDecimals(lo float64) int {
	switch {
	case lo >= 0.999:
		return 2
	case lo >= 0.99:
		return 1
	}
	return 0
}

// shortPercent is v as a percentage with as many decimals as a small rate needs.
func shortPercent(v float64) string {
	switch {
	case v == 0:
		return "0%"
	case v >= 0.01:
		return fmt.Sprintf("%.2f%%", 100*v)
	}
	return fmt.Sprintf("%.4f%%", 100*v)
}

// niceTickStep is a tick step from 1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 15, 30 min… that
// puts at most n ticks on span seconds.
func niceTickStep(span float64, n int) float64 {
	for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200} {
		if span/s <= float64(n) {
			return s
		}
	}
	return math.Ceil(span / float64(n))
}

func chartFill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r.Intersect(img.Bounds()), &image.Uniform{c}, image.Point{}, draw.Src)
}

func chartHLine(img *image.RGBA, x0, x1, y int, c color.Color) {
	chartFill(img, image.Rect(x0, y, x1+1, y+1), c)
}
func chartVLine(img *image.RGBA, x, y0, y1 int, c color.Color) {
	chartFill(img, image.Rect(x, y0, x+1, y1+1), c)
}

func chartFrame(img *image.RGBA, x0, y0, x1, y1 int) {
	chartHLine(img, x0, x1, y0, chartAxis)
	chartHLine(img, x0, x1, y1, chartAxis)
	chartVLine(img, x0, y0, y1, chartAxis)
	chartVLine(img, x1, y0, y1, chartAxis)
}

// chartLine draws a 2-pixel line from (x0, y0) to (x1, y1) (Bresenham).
func chartLine(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	dx, dy := absInt(x1-x0), -absInt(y1-y0)
	sx, sy := signInt(x1-x0), signInt(y1-y0)
	e := dx + dy
	for range dx - dy + 1 { // bounded: one pixel per step
		chartFill(img, image.Rect(x0, y0, x0+2, y0+2), c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func signInt(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

// chartLabel draws s with its baseline at y.
func chartLabel(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: &image.Uniform{c}, Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}
