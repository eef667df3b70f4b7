package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

var (
	tenant = uuid.MustParse("01900000-0000-7000-8000-00000000000a")
	usr    = uuid.MustParse("01900000-0000-7000-8000-0000000000a1")
	at     = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
)

const hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$c2VjcmV0aGFzaA"

func constructors() map[string]func() (Command, error) {
	return map[string]func() (Command, error){
		TypeSignedIn:         func() (Command, error) { return NewSignedIn(tenant, usr, at) },
		TypePasswordRehashed: func() (Command, error) { return NewPasswordRehashed(tenant, usr, hash, at) },
		TypeSignInFailed: func() (Command, error) {
			return NewSignInFailed(tenant, uuid.Nil, "00112233445566778899aabbccddeeff", "invalid_credentials", at)
		},
		TypeAuditEvent: func() (Command, error) {
			return NewAuditEvent(tenant, at, AuditEvent{Type: "consent.granted", Actor: "user:" + usr.String(),
				Subject: "client:app", Details: map[string]string{"scope": "openid email"}})
		},
	}
}

func TestRoundTrip(t *testing.T) {
	cs := constructors()
	if len(cs) != len(Types()) {
		t.Fatalf("constructors cover %d types, %d known", len(cs), len(Types()))
	}
	for typ, mk := range cs {
		t.Run(typ, func(t *testing.T) {
			c, err := mk()
			if err != nil {
				t.Fatal(err)
			}
			id, err := uuid.Parse(c.ID)
			if err != nil || id.Version() != 7 || c.Type != typ || c.Version != 1 || c.TenantID != tenant || !c.At.Equal(at) {
				t.Fatalf("command = %s at %s", c, c.At)
			}
			if got := c.Subject("nines"); got != "nines.cmd."+typ {
				t.Errorf("Subject = %s", got)
			}
			b, err := c.Encode()
			if err != nil {
				t.Fatal(err)
			}
			d, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if d.ID != c.ID || d.Type != c.Type || !bytes.Equal(d.Data, c.Data) || !d.At.Equal(c.At) {
				t.Fatalf("Decode = %s, want %s", d, c)
			}
			p, err := d.Payload()
			if err != nil || p.CommandType() != typ {
				t.Fatalf("Payload = %#v, %v", p, err)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	good, err := NewSignedIn(tenant, usr, at)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(mod func(m map[string]any)) []byte {
		b, _ := json.Marshal(good)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		mod(m)
		b, _ = json.Marshal(m)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"unknown type", enc(func(m map[string]any) { m["type"] = "user.teleported" }), ErrUnknownType},
		{"unknown version", enc(func(m map[string]any) { m["version"] = 2 }), ErrUnknownVersion},
		{"zero version", enc(func(m map[string]any) { m["version"] = 0 }), ErrInvalid},
		{"unknown envelope field", enc(func(m map[string]any) { m["extra"] = 1 }), ErrInvalid},
		{"unknown payload field", enc(func(m map[string]any) { m["data"].(map[string]any)["password"] = "x" }), ErrInvalid},
		{"no data", enc(func(m map[string]any) { delete(m, "data") }), ErrInvalid},
		{"no user", enc(func(m map[string]any) { delete(m["data"].(map[string]any), "user_id") }), ErrInvalid},
		{"no tenant", enc(func(m map[string]any) { m["tenant_id"] = uuid.Nil.String() }), ErrInvalid},
		{"no time", enc(func(m map[string]any) { delete(m, "at") }), ErrInvalid},
		{"id not v7", enc(func(m map[string]any) { m["id"] = uuid.NewString() }), ErrInvalid},
		{"id upper case", enc(func(m map[string]any) { m["id"] = strings.ToUpper(good.ID) }), ErrInvalid},
		{"type not a subject token", enc(func(m map[string]any) { m["type"] = "user.*" }), ErrInvalid},
		{"trailing data", append(enc(func(map[string]any) {}), []byte(" {}")...), ErrInvalid},
		{"not JSON", []byte("{"), ErrInvalid},
		{"too large", bytes.Repeat([]byte(" "), MaxSize+1), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.in)
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode = %v, want %v", err, tt.want)
			}
		})
	}
	// A relay reads the envelope of a type it does not know.
	if _, err := DecodeEnvelope(enc(func(m map[string]any) { m["type"] = "user.teleported"; m["version"] = 9 })); err != nil {
		t.Errorf("DecodeEnvelope of an unknown type: %v", err)
	}
}

func TestPayloadValidation(t *testing.T) {
	long := strings.Repeat("a", 300)
	tests := []struct {
		name string
		p    Payload
		ok   bool
	}{
		{"signed in", SignedIn{UserID: usr, At: at}, true},
		{"signed in without time", SignedIn{UserID: usr}, false},
		{"failed, unknown user", SignInFailed{SourceDigest: "00112233445566778899aabbccddeeff", At: at}, true},
		{"failed, digest not hex", SignInFailed{SourceDigest: "alice@example.com", At: at}, false},
		{"failed, digest short", SignInFailed{SourceDigest: "0011", At: at}, false},
		{"failed, bad reason", SignInFailed{SourceDigest: "00112233445566778899aabbccddeeff", Reason: "Wrong Password!", At: at}, false},
		{"rehashed", PasswordRehashed{UserID: usr, Hash: hash}, true},
		{"rehashed, not PHC", PasswordRehashed{UserID: usr, Hash: "hunter2"}, false},
		{"audit", AuditEvent{Type: "mfa.enrolled", Actor: "user:x"}, true},
		{"audit without actor", AuditEvent{Type: "mfa.enrolled"}, false},
		{"audit bad type", AuditEvent{Type: "MFA enrolled", Actor: "user:x"}, false},
		{"audit long subject", AuditEvent{Type: "x", Actor: "a", Subject: long}, false},
		{"audit bad detail key", AuditEvent{Type: "x", Actor: "a", Details: map[string]string{"Bad Key": "v"}}, false},
		{"audit details too large", AuditEvent{Type: "x", Actor: "a", Details: map[string]string{"k": strings.Repeat("v", MaxAuditDetailsBytes)}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
				t.Fatalf("Validate = %v, want ok %v", err, tt.ok)
			}
			_, err = New(tenant, at, tt.p)
			if (err == nil) != tt.ok {
				t.Fatalf("New = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// TestLargestAuditEventFits: an audit event at every bound, escaped at worst, encodes
// within MaxSize.
func TestLargestAuditEventFits(t *testing.T) {
	d := map[string]string{}
	per := MaxAuditDetailsBytes/MaxAuditDetails - 8
	for i := range MaxAuditDetails {
		d[fmt.Sprintf("key_%04d", i)] = strings.Repeat("\x01", per)
	}
	e := AuditEvent{Type: strings.Repeat("a", 64), Actor: strings.Repeat("\x01", maxAuditField), Subject: strings.Repeat("\x01", maxAuditField), Details: d}
	c, err := NewAuditEvent(tenant, at, e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Encode(); err != nil {
		t.Fatalf("Encode: %v", err)
	}
}

func TestRedaction(t *testing.T) {
	c, err := NewPasswordRehashed(tenant, usr, hash, at)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Payload()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "command", c, "payload", p)
	for name, s := range map[string]string{
		"%v command": fmt.Sprintf("%v", c), "%+v command": fmt.Sprintf("%+v", c), "%#v command": fmt.Sprintf("%#v", c),
		"%v payload": fmt.Sprintf("%v", p), "%+v payload": fmt.Sprintf("%+v", p), "%#v payload": fmt.Sprintf("%#v", p),
		"slog": logs.String(),
	} {
		if strings.Contains(s, "c2VjcmV0aGFzaA") || strings.Contains(s, "argon2id") {
			t.Errorf("%s shows the hash: %s", name, s)
		}
		if !strings.Contains(s, usr.String()) && !strings.Contains(s, c.ID) {
			t.Errorf("%s names neither the user nor the command: %s", name, s)
		}
	}
}
