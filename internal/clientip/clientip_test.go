package clientip_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/ninesid/nines/internal/clientip"
)

func mustPrefixes(t *testing.T, list ...string) []netip.Prefix {
	t.Helper()
	ps, errs := clientip.ParsePrefixes(list)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return ps
}

func TestClientIP(t *testing.T) {
	trusted := mustPrefixes(t, "10.0.0.0/8", "192.0.2.1", "2001:db8:ffff::/48")
	tests := []struct {
		name    string
		trusted []netip.Prefix // nil: the trusted list above
		none    bool           // trust nobody
		remote  string
		xff     []string // header lines, in order
		want    string
	}{
		{name: "no proxy configured ignores the header", none: true, remote: "198.51.100.7:5555", xff: []string{"203.0.113.9"}, want: "198.51.100.7"},
		{name: "spoofed header from an untrusted peer", remote: "198.51.100.7:5555", xff: []string{"203.0.113.9, 10.1.1.1"}, want: "198.51.100.7"},
		{name: "trusted peer, one hop", remote: "10.0.0.2:4000", xff: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "client-supplied entries left of the real one are ignored", remote: "10.0.0.2:4000", xff: []string{"1.1.1.1, 203.0.113.9"}, want: "203.0.113.9"},
		{name: "chain of trusted hops", remote: "10.0.0.2:4000", xff: []string{"203.0.113.9, 192.0.2.1, 10.9.9.9"}, want: "203.0.113.9"},
		{name: "spoofed trusted entry stops nothing: first untrusted from the right", remote: "10.0.0.2:4000", xff: []string{"10.5.5.5, 198.51.100.20"}, want: "198.51.100.20"},
		{name: "several header lines read as one list", remote: "10.0.0.2:4000", xff: []string{"203.0.113.9", "10.3.3.3"}, want: "203.0.113.9"},
		{name: "trusted peer without header", remote: "10.0.0.2:4000", want: "10.0.0.2"},
		{name: "every hop trusted", remote: "10.0.0.2:4000", xff: []string{"10.7.7.7, 10.8.8.8"}, want: "10.7.7.7"},
		{name: "garbage right after the peer: the peer", remote: "10.0.0.2:4000", xff: []string{"203.0.113.9, unknown"}, want: "10.0.0.2"},
		{name: "garbage behind a trusted hop: that hop", remote: "10.0.0.2:4000", xff: []string{"<script>, 10.4.4.4"}, want: "10.4.4.4"},
		{name: "empty entry stops the walk", remote: "10.0.0.2:4000", xff: []string{"203.0.113.9,,10.4.4.4"}, want: "10.4.4.4"},
		{name: "empty header value", remote: "10.0.0.2:4000", xff: []string{""}, want: "10.0.0.2"},
		{name: "entry with a port", remote: "10.0.0.2:4000", xff: []string{"203.0.113.9:61000"}, want: "203.0.113.9"},
		{name: "ipv6 peer trusted, ipv6 client", remote: "[2001:db8:ffff::1]:443", xff: []string{"2001:db8:1::5"}, want: "2001:db8:1::5"},
		{name: "ipv6 client with port", remote: "10.0.0.2:4000", xff: []string{"[2001:db8:1::5]:443"}, want: "2001:db8:1::5"},
		{name: "ipv6 peer untrusted", remote: "[2001:db8:1::1]:443", xff: []string{"203.0.113.9"}, want: "2001:db8:1::1"},
		{name: "ipv4-mapped peer matches ipv4 prefix", remote: "[::ffff:10.0.0.2]:4000", xff: []string{"203.0.113.9"}, want: "203.0.113.9"},
		{name: "ipv4-mapped client comes back as ipv4", remote: "10.0.0.2:4000", xff: []string{"::ffff:203.0.113.9"}, want: "203.0.113.9"},
		{name: "zone dropped", remote: "[fe80::1%eth0]:80", want: "fe80::1"},
		{name: "remote addr without port", remote: "198.51.100.7", want: "198.51.100.7"},
		{name: "remote addr not an address", remote: "pipe:1", want: "pipe"},
		{name: "remote addr garbage", remote: "garbage", xff: []string{"203.0.113.9"}, want: "garbage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := clientip.Resolver{Trusted: trusted}
			if tt.none {
				res = clientip.Resolver{}
			}
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := res.ClientIP(r); got != tt.want {
				t.Fatalf("ClientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTrusts(t *testing.T) {
	res := clientip.Resolver{Trusted: mustPrefixes(t, "10.0.0.0/8", "2001:db8::/32")}
	tests := []struct {
		addr string
		want bool
	}{
		{"10.1.2.3", true},
		{"10.1.2.3:80", true},
		{"::ffff:10.1.2.3", true},
		{"2001:db8::1", true},
		{"[2001:db8::1]:443", true},
		{"11.0.0.1", false},
		{"2001:db9::1", false},
		{"", false},
		{"junk", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := res.Trusts(tt.addr); got != tt.want {
				t.Fatalf("Trusts(%q) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "10.0.0.0/8", want: "10.0.0.0/8"},
		{in: " 192.0.2.7 ", want: "192.0.2.7/32"},
		{in: "2001:db8::/32", want: "2001:db8::/32"},
		{in: "2001:db8::1", want: "2001:db8::1/128"},
		{in: "::ffff:10.0.0.1", want: "10.0.0.1/32"},
		{in: "::ffff:10.0.0.0/104", want: "10.0.0.0/8"},
		{in: "10.0.0.1/8", wantErr: true},
		{in: "0.0.0.0/0", wantErr: true},
		{in: "::/0", wantErr: true},
		{in: "fe80::1%eth0", wantErr: true},
		{in: "10.0.0.0/33", wantErr: true},
		{in: "proxy.example.com", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := clientip.ParsePrefix(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParsePrefix(%q) = %v, %v; want error %v", tt.in, p, err, tt.wantErr)
			}
			if err == nil && p.String() != tt.want {
				t.Fatalf("ParsePrefix(%q) = %v, want %s", tt.in, p, tt.want)
			}
		})
	}
}

func FuzzClientIP(f *testing.F) {
	res := clientip.Resolver{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	f.Add("10.0.0.1:1", "203.0.113.9, 10.0.0.3")
	f.Add("198.51.100.1:2", "10.0.0.1")
	f.Add("[::1]:3", ",,,")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		got := res.ClientIP(r)
		// An untrusted peer is always the answer, whatever the header says.
		if peer, err := netip.ParseAddrPort(remote); err == nil && !res.Trusts(remote) {
			if want := peer.Addr().Unmap().WithZone("").String(); got != want {
				t.Fatalf("untrusted peer %q with header %q: got %q", remote, xff, got)
			}
		}
	})
}
