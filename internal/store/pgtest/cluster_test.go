package pgtest_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ninesid/nines/internal/store/pgtest"
)

var cluster = pgtest.NewShared(pgtest.Options{Replicas: 2, Template: createItems})

func TestMain(m *testing.M) { os.Exit(cluster.Run(m)) }

// createItems is the template: one table.
func createItems(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)`)
	return err
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func insert(t *testing.T, url string, id int, name string) {
	t.Helper()
	if _, err := connect(t, url).Exec(t.Context(), `INSERT INTO items VALUES ($1, $2)`, id, name); err != nil {
		t.Fatalf("insert: %v", err)
	}
}

// itemName reads item id at url; "" when there is no such row.
func itemName(t *testing.T, url string, id int) string {
	t.Helper()
	var name string
	err := connect(t, url).QueryRow(t.Context(), `SELECT name FROM items WHERE id = $1`, id).Scan(&name)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("read %s: %v", url, err)
	}
	return name
}

func waitReplicated(t *testing.T, c *pgtest.Cluster) {
	t.Helper()
	if err := c.WaitReplicated(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestReplicasServeWhatThePrimaryWrote(t *testing.T) {
	c := cluster.Cluster(t)
	db := c.NewDatabase(t)
	insert(t, db.PrimaryURL, 1, "one")
	waitReplicated(t, c)
	if len(db.ReplicaURLs) != 2 {
		t.Fatalf("ReplicaURLs = %v, want 2", db.ReplicaURLs)
	}
	for _, u := range db.ReplicaURLs {
		if got := itemName(t, u, 1); got != "one" {
			t.Errorf("replica %s: item 1 = %q, want %q", u, got, "one")
		}
		_, err := connect(t, u).Exec(t.Context(), `INSERT INTO items VALUES (2, 'two')`)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "25006" {
			t.Errorf("replica %s: write error = %v, want read_only_sql_transaction (25006)", u, err)
		}
	}
}

func TestNewDatabaseIsFreshCloneOfTemplate(t *testing.T) {
	c := cluster.Cluster(t)
	a, b := c.NewDatabase(t), c.NewDatabase(t)
	if a.Name == b.Name {
		t.Fatalf("two databases named %q", a.Name)
	}
	insert(t, a.PrimaryURL, 1, "in a")
	if got := itemName(t, b.PrimaryURL, 1); got != "" {
		t.Errorf("database %s sees %q written to %s", b.Name, got, a.Name)
	}
}

func TestDropDatabaseEndsSessions(t *testing.T) {
	c := cluster.Cluster(t)
	db, err := c.CreateDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	conn := connect(t, db.PrimaryURL)
	if err := c.DropDatabase(t.Context(), db.Name); err != nil {
		t.Fatal(err)
	}
	if err := conn.Ping(t.Context()); err == nil {
		t.Error("session in a dropped database still answers")
	}
}

func TestReplicaFaults(t *testing.T) {
	tests := []struct {
		name string
		stop func(c *pgtest.Cluster, i int) error
	}{
		{"fast shutdown", (*pgtest.Cluster).StopReplica},
		{"kill", (*pgtest.Cluster).KillReplica},
	}
	for n, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cluster.Cluster(t)
			db := c.NewDatabase(t)
			t.Cleanup(func() { _ = c.StartReplica(context.Background(), 0) })
			seg := segmentOf(t, dataDir(t, c.ReplicaURLs()[0]))
			if err := tt.stop(c, 0); err != nil {
				t.Fatal(err)
			}
			if !seg.gone() {
				t.Errorf("shared memory segment %d of the stopped replica is left behind", seg.id)
			}
			if conn, err := pgx.Connect(t.Context(), db.ReplicaURLs[0]); err == nil {
				conn.Close(t.Context())
				t.Fatal("stopped replica accepts connections")
			}
			insert(t, db.PrimaryURL, n, "while down")
			waitReplicated(t, c) // the running replica only
			if err := c.StartReplica(t.Context(), 0); err != nil {
				t.Fatal(err)
			}
			waitReplicated(t, c)
			if got := itemName(t, db.ReplicaURLs[0], n); got != "while down" {
				t.Errorf("restarted replica: item = %q, want %q", got, "while down")
			}
		})
	}
}

func TestPrimaryStopKeepsReplicasReadable(t *testing.T) {
	c := cluster.Cluster(t)
	db := c.NewDatabase(t)
	insert(t, db.PrimaryURL, 1, "before")
	waitReplicated(t, c)
	t.Cleanup(func() { _ = c.StartPrimary(context.Background()) })
	if err := c.StopPrimary(); err != nil {
		t.Fatal(err)
	}
	if conn, err := pgx.Connect(t.Context(), db.PrimaryURL); err == nil {
		conn.Close(t.Context())
		t.Fatal("stopped primary accepts connections")
	}
	for _, u := range db.ReplicaURLs {
		if got := itemName(t, u, 1); got != "before" {
			t.Errorf("replica %s with primary down: item = %q, want %q", u, got, "before")
		}
	}
	if err := c.StartPrimary(t.Context()); err != nil {
		t.Fatal(err)
	}
	insert(t, db.PrimaryURL, 2, "after")
	waitReplicated(t, c)
	// Seen on this machine (about 1 run in 5): right after a primary restart, a replica
	// whose replay position is past the commit can answer without the row for a few
	// milliseconds (the next query has it). So the replicas must show it within a bound,
	// not at once; WaitReplicated's doc says so.
	for _, u := range db.ReplicaURLs {
		got := ""
		for range 100 {
			if got = itemName(t, u, 2); got == "after" {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got != "after" {
			t.Errorf("replica %s after primary restart: item = %q, want %q", u, got, "after")
		}
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	c, err := pgtest.New(pgtest.Options{Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	pids := postmasterPIDs(t, c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("postmaster %d after Close: kill(0) = %v, want ESRCH", pid, err)
		}
	}
}

// postmasterPIDs asks every server of c for its data directory and reads its pid there.
func postmasterPIDs(t *testing.T, c *pgtest.Cluster) []int {
	t.Helper()
	var pids []int
	for _, u := range append([]string{c.PrimaryURL()}, c.ReplicaURLs()...) {
		pids = append(pids, segmentOf(t, dataDir(t, u)).pid)
	}
	return pids
}
