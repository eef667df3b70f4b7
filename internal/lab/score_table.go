package lab

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the card for an operator: the headline numbers, latency by phase
// and by flow, failures by class, then every target with PASS or FAIL.
func (c Scorecard) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	name := c.Scenario
	if name == "" {
		name = "load (no scenario)"
	}
	p("SCORECARD\t%s", name)
	p("started\t%s, %.0f s at %g flows/s (%s), admin %g/s", c.StartedAt.Format("2006-01-02 15:04:05 MST"), c.DurationS,
		c.Load.Rate, c.Load.Mix, c.Load.AdminRate)
	if c.Fault != nil {
		p("fault\t%.1f s → %.1f s (%.1f s)", c.Fault.StartS, c.Fault.EndS, c.Fault.EndS-c.Fault.StartS)
	} else {
		p("fault\tnone")
	}
	p("end-user requests\t%d, failed %d (%s)", c.EndUserRequests, c.EndUserFailed, percent(c.EndUserFailureRate))
	if c.ImpactWindowS > 0 {
		rec := ""
		if !c.ImpactWindow.Recovered {
			rec = ", NOT RECOVERED when the load ended"
		}
		p("impact window\t%.1f s (%.1f s → %.1f s), failure rate %s (%d of %d)%s", c.ImpactWindowS, c.ImpactWindow.StartS,
			c.ImpactWindow.EndS, percent(c.ImpactWindowFailureRate), c.ImpactWindow.Failed, c.ImpactWindow.Requests, rec)
	} else {
		p("impact window\tnone (no unhealthy second)")
	}
	switch {
	case c.TimeToMitigateS != nil:
		p("time to mitigate\t%.1f s", *c.TimeToMitigateS)
	case c.Fault != nil:
		p("time to mitigate\tnot mitigated before the load ended")
	default:
		p("time to mitigate\t— (no fault)")
	}
	p("admin requests\t%d, failed %d (%s)", c.AdminRequests, c.AdminFailed, percent(c.AdminFailureRate))
	if c.CommandsMeasured {
		p("commands\tissued %d, applied %d, lost %d, duplicated %d (uncertain %d)", c.CommandsIssued, c.CommandsApplied,
			c.CommandsLost, c.CommandsDuplicated, c.CommandsUncertain)
	} else {
		p("commands\tissued %d (uncertain %d); applied: not measured", c.CommandsIssued, c.CommandsUncertain)
	}
	p("")
	p("LATENCY ms\tall\tbefore\tduring\tafter")
	p("p50\t%s\t%s\t%s\t%s", msOrDash(c.P50ms.All), msOrDash(c.P50ms.Before), msOrDash(c.P50ms.During), msOrDash(c.P50ms.After))
	p("p99\t%s\t%s\t%s\t%s", msOrDash(c.P99ms.All), msOrDash(c.P99ms.Before), msOrDash(c.P99ms.During), msOrDash(c.P99ms.After))
	p("")
	p("FLOW\trequests\tfailed\tp50 ms\tp99 ms")
	for _, f := range c.Flows {
		p("%s\t%d\t%d\t%s\t%s", f.Flow, f.Requests, f.Failed, msOrDash(f.P50ms), msOrDash(f.P99ms))
	}
	if len(c.Failures) > 0 {
		classes := make([]string, 0, len(c.Failures))
		for k := range c.Failures {
			classes = append(classes, k)
		}
		slices.Sort(classes)
		var parts []string
		for _, k := range classes {
			parts = append(parts, fmt.Sprintf("%s %d", k, c.Failures[k]))
		}
		p("")
		p("failures by class\t%s", strings.Join(parts, ", "))
	}
	p("")
	p("TARGET\twant\tgot\t")
	for _, t := range c.Targets {
		verdict := "PASS"
		if !t.Pass {
			verdict = "FAIL"
		}
		p("%s\t%s\t%s\t%s", t.Name, t.Want, t.Got, verdict)
	}
	verdict := "PASS"
	if !c.Pass {
		verdict = "FAIL"
	}
	p("overall\t\t\t%s", verdict)
	return tw.Flush()
}

func percent(v float64) string {
	return fmt.Sprintf("%.4f%%", 100*v)
}

func msOrDash(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.1f", *v)
}
