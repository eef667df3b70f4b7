package lab

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"path/filepath"
	"testing"
)

func TestChartDrawsTheRun(t *testing.T) {
	// 60 s at 10/s; three bad seconds inside a fault from 20 to 40 s; latency rises
	// tenfold during the fault.
	s := synth{t0: t0, rate: 10, seconds: 60,
		lat: func(i int) float64 {
			return map[bool]float64{true: 200, false: 20}[i >= 200 && i < 400] + float64(i%10)
		},
		fail: func(i, sec int) bool { return sec >= 20 && sec < 23 && i%10 < 3 }}
	card := Score(s.result(), ScoreConfig{Scenario: ScenarioZoneDegraded, Fault: fault(20, 40), Commands: allApplied(5)})

	const w, h = 900, 560
	var buf bytes.Buffer
	if err := card.WriteChart(&buf, w, h); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("size %v, want %dx%d", b.Size(), w, h)
	}
	if !sameColor(img.At(0, 0), chartBackground) {
		t.Errorf("corner %v, want the background", img.At(0, 0))
	}
	// Inside the plot area (between the axes' margins) each element has its colour.
	plot := image.Rect(80, 40, w-24, h-40)
	for _, c := range []struct {
		name string
		c    color.RGBA
		// where to look: the x range of the seconds, as fractions of the plot's width
		from, to float64
		min      int
	}{
		{"success-rate line", chartSuccess, 0, 1, 200},
		{"failed seconds", chartFailed, 20.0 / 60, 24.0 / 60, 20},
		{"fault shading", chartFault, 21.0 / 60, 39.0 / 60, 1000},
		{"p50 line", chartP50, 0, 1, 200},
		{"p99 line", chartP99, 0, 1, 200},
		{"impact window marks", chartImpact, 19.0 / 60, 24.0 / 60, 20},
	} {
		r := image.Rect(plot.Min.X+int(c.from*float64(plot.Dx())), plot.Min.Y, plot.Min.X+int(c.to*float64(plot.Dx()))+1, plot.Max.Y)
		if n := countColor(img, r, c.c); n < c.min {
			t.Errorf("%s: %d pixels of %v in %v, want at least %d", c.name, n, c.c, r, c.min)
		}
	}
	// Outside the fault, no fault shading.
	if n := countColor(img, image.Rect(plot.Min.X, plot.Min.Y, plot.Min.X+plot.Dx()/4, plot.Max.Y), chartFault); n != 0 {
		t.Errorf("%d fault-coloured pixels before the fault", n)
	}
	// The file variant writes the same default-size image.
	path := filepath.Join(t.TempDir(), "chart.png")
	if err := card.WriteChartFile(path, 0, 0); err != nil {
		t.Fatal(err)
	}
	if got := card.ChartImage(0, 0).Bounds().Size(); got != image.Pt(DefaultChartWidth, DefaultChartHeight) {
		t.Errorf("default size %v", got)
	}
}

func TestChartWithoutFaultOrData(t *testing.T) {
	// An empty run (no second) and a run without a fault still draw.
	for _, card := range []Scorecard{{}, Score(synth{t0: t0, rate: 2, seconds: 5}.result(), ScoreConfig{})} {
		var buf bytes.Buffer
		if err := card.WriteChart(&buf, 500, 300); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		above := image.Rect(0, 0, 500, 300-20) // the legend's swatches are below
		if n := countColor(img, above, chartFault); n != 0 {
			t.Errorf("%d fault-coloured pixels without a fault", n)
		}
		if n := countColor(img, img.Bounds(), chartAxis); n < 100 {
			t.Errorf("%d axis pixels: no frame drawn", n)
		}
	}
}

func countColor(img image.Image, r image.Rectangle, c color.RGBA) int {
	n := 0
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if sameColor(img.At(x, y), c) {
				n++
			}
		}
	}
	return n
}

func sameColor(a color.Color, b color.RGBA) bool {
	r, g, bl, al := a.RGBA()
	r2, g2, b2, a2 := b.RGBA()
	return r == r2 && g == g2 && bl == b2 && al == a2
}
