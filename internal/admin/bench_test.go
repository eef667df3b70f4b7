package admin

import (
	"log/slog"
	"net/http"
	"strconv"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/ninesid/nines/internal/password"
)

// BenchmarkCreateUser is POST …/users with a password through the whole handler (auth,
// decode, validation, argon2id at OWASP cost, SQLite insert, response). Compare it with
// BenchmarkRawArgon2id: the difference is what the API adds to the hash.
func BenchmarkCreateUser(b *testing.B) {
	benchCreateUser(b, password.New(password.Config{Params: password.OWASP}))
}

// BenchmarkCreateUserCheapHash is the same request with a toy-cost hasher: what the API
// and the SQLite insert cost on their own.
func BenchmarkCreateUserCheapHash(b *testing.B) { benchCreateUser(b, cheapHasher()) }

func benchCreateUser(b *testing.B, h PasswordHasher) {
	e := newEnv(b, func(c *Config) {
		c.Passwords = h
		c.Logger = slog.New(slog.DiscardHandler)
	})
	e.mkTenant("acme")
	i := 0
	for b.Loop() {
		i++
		body := `{"username":"user` + strconv.Itoa(i) + `","email":"user` + strconv.Itoa(i) +
			`@example.com","password":"correct horse battery staple"}`
		e.as("POST", usersURL, body).want(http.StatusCreated)
	}
}

// BenchmarkRawArgon2id is one argon2id key derivation at the OWASP parameters.
func BenchmarkRawArgon2id(b *testing.B) {
	p := password.OWASP
	salt := make([]byte, p.SaltLen)
	pw := []byte("correct horse battery staple")
	for b.Loop() {
		argon2.IDKey(pw, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
	}
}
