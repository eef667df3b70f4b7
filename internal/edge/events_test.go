package edge

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"testing"
)

func seqs(evs []Event) []uint64 {
	out := []uint64{}
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

// TestEventLogPages: list gives the oldest events after a sequence number, so paging by
// the last Seq seen visits every event once; tail gives the newest. Both oldest first.
func TestEventLogPages(t *testing.T) {
	l := &eventLog{logger: slog.New(slog.DiscardHandler)}
	for i := range 10 {
		kind := KindHealth
		if i%2 == 1 {
			kind = KindReload
		}
		l.add(Event{Kind: kind, Action: "a", Result: "ok"})
	}
	for _, tt := range []struct {
		name  string
		got   []Event
		wantQ []uint64
	}{
		{name: "page from the start", got: l.list(0, "", 3), wantQ: []uint64{1, 2, 3}},
		{name: "next page", got: l.list(3, "", 3), wantQ: []uint64{4, 5, 6}},
		{name: "last page is short", got: l.list(8, "", 3), wantQ: []uint64{9, 10}},
		{name: "past the end", got: l.list(10, "", 3), wantQ: []uint64{}},
		{name: "no limit", got: l.list(7, "", 0), wantQ: []uint64{8, 9, 10}},
		{name: "page of a kind", got: l.list(2, KindReload, 2), wantQ: []uint64{4, 6}},
		{name: "tail", got: l.tail("", 3), wantQ: []uint64{8, 9, 10}},
		{name: "tail of a kind", got: l.tail(KindHealth, 2), wantQ: []uint64{7, 9}},
		{name: "tail longer than the log", got: l.tail("", 50), wantQ: []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := seqs(tt.got); !slices.Equal(got, tt.wantQ) {
				t.Fatalf("seqs %v, want %v", got, tt.wantQ)
			}
		})
	}
}

// TestEventsAPIPaging: GET /v1/events?after= pages forward without a gap; without after
// it answers the newest events.
func TestEventsAPIPaging(t *testing.T) {
	tc := newTwoClusters(t)
	te := startEdge(t, tc.routes(""), edgeOpts{})
	for i := range 7 {
		te.events.add(Event{Kind: KindChange, Action: "test", Target: fmt.Sprint(i), Result: "ok"})
	}
	all := seqs(te.events.list(0, KindChange, 0))
	if len(all) != 7 {
		t.Fatalf("change events %v", all)
	}
	get := func(q string) []uint64 {
		t.Helper()
		code, raw := te.ctl(t, http.MethodGet, "/v1/events?kind=change&"+q, nil)
		if code != http.StatusOK {
			t.Fatalf("events: %d %s", code, raw)
		}
		var out struct {
			Events []Event `json:"events"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		return seqs(out.Events)
	}
	var paged []uint64
	after := uint64(0)
	for range 10 {
		page := get(fmt.Sprintf("after=%d&limit=3", after))
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1]
	}
	if !slices.Equal(paged, all) {
		t.Fatalf("paging by after saw %v, want %v", paged, all)
	}
	if got := get("limit=2"); !slices.Equal(got, all[5:]) {
		t.Fatalf("newest two: %v, want %v", got, all[5:])
	}
}
