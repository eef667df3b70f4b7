package postgres

import (
	"testing"
)

// BenchmarkReplicaUserByUsername is a Reader lookup through the two replicas;
// BenchmarkPrimaryUserByUsername is the same lookup on the primary (no replicas), the
// baseline. Both run 4×GOMAXPROCS goroutines and report reads/s.
func BenchmarkReplicaUserByUsername(b *testing.B) { benchUserByUsername(b, true) }

func BenchmarkPrimaryUserByUsername(b *testing.B) { benchUserByUsername(b, false) }

func benchUserByUsername(b *testing.B, replicas bool) {
	c := cluster.Cluster(b)
	db := c.NewDatabase(b)
	opts := Options{PrimaryURL: db.PrimaryURL, PrimaryFallback: !replicas}
	if replicas {
		opts.ReplicaURLs = db.ReplicaURLs
	}
	bk := open(b, opts)
	ten, u := seedUser(b, bk.Store())
	waitReplicated(b, c)
	r := bk.Store().Reader()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.UserByUsername(b.Context(), ten.ID, u.Username); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}
