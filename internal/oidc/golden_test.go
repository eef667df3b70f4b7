package oidc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/ninesid/nines/internal/tenant"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func decodeSeg(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return string(b), err
}

// TestDiscoveryGolden pins one tenant's discovery document (OIDC Discovery §3). Run
// with -update to rewrite testdata/discovery.golden after a deliberate change.
func TestDiscoveryGolden(t *testing.T) {
	p := &Provider{cfg: Config{PublicURL: "https://id.example.com"}}
	doc := p.discoveryDocument(tenantCtx{T: tenant.Tenant{Slug: "acme"}, Issuer: p.Issuer("acme")})
	got, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "discovery.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestDiscoveryGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("discovery document differs from %s (run with -update if deliberate):\n%s", path, got)
	}
}

// TestDiscoveryServedMatchesIssuer checks the served document against the issuer of
// the path, whatever Forwarded headers say (GO-2025-4084).
func TestDiscoveryServedMatchesIssuer(t *testing.T) {
	w := newWorld(t)
	req, _ := newRequest("GET", w.issuer("acme")+"/.well-known/openid-configuration")
	req.Header.Set("Forwarded", "host=evil.example;proto=https")
	req.Header.Set("X-Forwarded-Host", "evil.example")
	resp, err := w.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc["issuer"] != w.issuer("acme") || doc["token_endpoint"] != w.issuer("acme")+"/token" {
		t.Errorf("issuer %v token %v", doc["issuer"], doc["token_endpoint"])
	}
}
