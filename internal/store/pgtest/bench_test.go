package pgtest_test

import (
	"fmt"
	"testing"

	"github.com/ninesid/nines/internal/store/pgtest"
)

// BenchmarkStart measures a whole cluster's life: initdb, copies, start, streaming, stop.
func BenchmarkStart(b *testing.B) {
	for _, replicas := range []int{0, 2} {
		b.Run(fmt.Sprintf("replicas=%d", replicas), func(b *testing.B) {
			for b.Loop() {
				c, err := pgtest.New(pgtest.Options{Replicas: replicas})
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNewDatabase measures one clone of the template, replicated to two replicas.
func BenchmarkNewDatabase(b *testing.B) {
	c := cluster.Cluster(b)
	for b.Loop() {
		db, err := c.CreateDatabase(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if err := c.DropDatabase(b.Context(), db.Name); err != nil {
			b.Fatal(err)
		}
	}
}
