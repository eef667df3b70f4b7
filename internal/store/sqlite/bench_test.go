package sqlite

import (
	"fmt"
	"testing"

	"github.com/ninesid/nines/internal/user"
)

// BenchmarkReaderUserByUsername is the login tier's hottest entity read, on the read pool,
// in a tenant of 1000 users.
func BenchmarkReaderUserByUsername(b *testing.B) {
	be := openBackend(b)
	ctx := b.Context()
	st := be.Store()
	tn, err := st.CreateTenant(ctx, tenantFixture("bench"))
	if err != nil {
		b.Fatal(err)
	}
	const users = 1000
	for i := range users {
		u := user.User{Username: fmt.Sprintf("user%04d", i), Email: fmt.Sprintf("user%04d@example.com", i),
			Status: user.StatusActive, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}
		if _, err := st.CreateUser(ctx, tn.ID, u); err != nil {
			b.Fatal(err)
		}
	}
	r := st.Reader()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := r.UserByUsername(ctx, tn.ID, fmt.Sprintf("user%04d", i%users)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
