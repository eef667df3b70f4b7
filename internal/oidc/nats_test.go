package oidc

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/oauth2"

	"github.com/ninesid/nines/internal/kv"
	"github.com/ninesid/nines/internal/natsd"
)

// TestOnNATS runs the code flow, refresh rotation and reuse detection, and the
// redemption race on the real KV: an embedded NATS JetStream server, so single use rests
// on JetStream's compare-and-swap, not on the in-memory fake.
func TestOnNATS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := natsd.Start(ctx, natsd.Options{StoreDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	buckets, err := kv.Open(ctx, js, kv.Options{Prefix: "oidctest"})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorldWith(t, fastHash, &buckets)

	r := newRP(t, w, "acme", "web")
	verifier := oauth2.GenerateVerifier()
	tok, err := r.conf.Exchange(ctx, r.signIn(t, newBrowser(t), verifier), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if _, err := r.verifier.Verify(ctx, tok.Extra("id_token").(string)); err != nil {
		t.Fatalf("ID token: %v", err)
	}
	status, second := refreshWith(t, w, "acme", "web", tok.RefreshToken)
	if status != http.StatusOK {
		t.Fatalf("rotation: %d %v", status, second)
	}
	if status, _ := refreshWith(t, w, "acme", "web", tok.RefreshToken); status != http.StatusBadRequest {
		t.Fatalf("replay: %d", status)
	}
	if status, _ := refreshWith(t, w, "acme", "web", str(second, "refresh_token")); status != http.StatusBadRequest {
		t.Errorf("newest token after replay: %d", status)
	}

	code := r.signIn(t, newBrowser(t), verifier)
	const n = 50
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], _ = redeem(t, w, "acme", "web", code, verifier)
		}()
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		if s == http.StatusOK {
			ok++
		} else if s != http.StatusBadRequest {
			t.Errorf("status %d", s)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent redemptions on NATS succeeded, want exactly 1", ok, n)
	}
}
