package app

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ninesid/nines/internal/requestid"
)

func TestMiddleware(t *testing.T) {
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		path       string
		wantStatus int
		wantRoute  string
		wantLog    []string
	}{
		{name: "ok", path: "/things/42?token=secret-in-query", handler: func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("hello"))
		}, wantStatus: 200, wantRoute: "GET /things/{id}", wantLog: []string{`"bytes":5`, `"status":200`}},
		{name: "status kept", path: "/things/1", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusTeapot)
		}, wantStatus: 418, wantRoute: "GET /things/{id}", wantLog: []string{`"status":418`}},
		{name: "panic is a 500 problem", path: "/things/7", handler: func(http.ResponseWriter, *http.Request) {
			panic("boom")
		}, wantStatus: 500, wantRoute: "GET /things/{id}", wantLog: []string{`"msg":"panic serving request"`, `"panic":"boom"`, `"stack":"goroutine`, `"status":500`}},
		{name: "unmatched", path: "/nothing", handler: nil, wantStatus: 404, wantRoute: "(unmatched)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			logger := NewLogger(&log, "info")
			mux := http.NewServeMux()
			if tt.handler != nil {
				mux.HandleFunc("GET /things/{id}", tt.handler)
			}
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			req.Header.Set("Authorization", "Bearer secret-in-header")
			req.Header.Set(requestid.Header, "test-request-0001")
			chain(logger, mux).ServeHTTP(rec, req)

			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if rec.Header().Get(requestid.Header) != "test-request-0001" {
				t.Fatalf("request ID header %q", rec.Header().Get(requestid.Header))
			}
			if tt.wantStatus == 500 {
				var p map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p["status"] != 500.0 || p["request_id"] != "test-request-0001" ||
					rec.Header().Get("Content-Type") != "application/problem+json" {
					t.Fatalf("problem body %s (%v)", rec.Body, err)
				}
				if strings.Contains(rec.Body.String(), "boom") {
					t.Fatal("panic value leaked to the client")
				}
			}
			out := log.String()
			want := append([]string{`"route":"` + tt.wantRoute + `"`, `"request_id":"test-request-0001"`, `"method":"GET"`}, tt.wantLog...)
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("log lacks %s:\n%s", w, out)
				}
			}
			for _, leak := range []string{"secret-in-query", "secret-in-header", "/things/42"} {
				if strings.Contains(out, leak) {
					t.Errorf("log leaks %q:\n%s", leak, out)
				}
			}
		})
	}
}
