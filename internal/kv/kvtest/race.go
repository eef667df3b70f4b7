package kvtest

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/ninesid/nines/internal/kv"
)

// racers is how many goroutines race for one key.
const racers = 50

func runRaces(t *testing.T, newBucket func(t *testing.T) kv.Bucket) {
	t.Run("consume", func(t *testing.T) { raceConsume(t, newBucket(t)) })
	t.Run("create", func(t *testing.T) { raceCreate(t, newBucket(t)) })
	t.Run("update", func(t *testing.T) { raceUpdate(t, newBucket(t)) })
	t.Run("counter", func(t *testing.T) { raceCounter(t, newBucket(t)) })
	t.Run("consume while updated", func(t *testing.T) { raceConsumeUpdate(t, newBucket(t)) })
}

// race runs f(i) for i in [0, racers) in goroutines released together and returns
// their errors.
func race(f func(i int) error) []error {
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// tally counts nil errors and errors that are want; any other error fails t.
func tally(t *testing.T, errs []error, want error) (wins, losses int) {
	t.Helper()
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, want):
			losses++
		default:
			t.Errorf("racer %d: %v", i, err)
		}
	}
	return wins, losses
}

// raceConsume: of racers consumers of one key exactly one gets it.
func raceConsume(t *testing.T, b kv.Bucket) {
	for round := range 3 {
		key := "code" + strconv.Itoa(round)
		rev := mustCreate(t, b, key, "secret")
		var mu sync.Mutex
		var got []kv.Entry
		errs := race(func(int) error {
			e, err := b.Consume(ctxT(t), key)
			if err == nil {
				mu.Lock()
				got = append(got, e)
				mu.Unlock()
			}
			return err
		})
		wins, losses := tally(t, errs, kv.ErrNotFound)
		if wins != 1 || losses != racers-1 {
			t.Fatalf("round %d: %d consumers won, %d got ErrNotFound; want 1 and %d", round, wins, losses, racers-1)
		}
		if string(got[0].Value) != "secret" || got[0].Revision != rev {
			t.Fatalf("winner got {%q %d}, want {\"secret\" %d}", got[0].Value, got[0].Revision, rev)
		}
		wantGone(t, b, key)
	}
}

// raceCreate: of racers creators of one key exactly one succeeds, and its value stays.
func raceCreate(t *testing.T, b kv.Bucket) {
	var mu sync.Mutex
	winner := -1
	errs := race(func(i int) error {
		_, err := b.Create(ctxT(t), "k", []byte(strconv.Itoa(i)))
		if err == nil {
			mu.Lock()
			winner = i
			mu.Unlock()
		}
		return err
	})
	wins, losses := tally(t, errs, kv.ErrExists)
	if wins != 1 || losses != racers-1 {
		t.Fatalf("%d creates won, %d got ErrExists; want 1 and %d", wins, losses, racers-1)
	}
	wantValue(t, b, "k", strconv.Itoa(winner), 0)
}

// raceUpdate: of racers updates from the same revision exactly one succeeds.
func raceUpdate(t *testing.T, b kv.Bucket) {
	rev := mustCreate(t, b, "k", "start")
	var mu sync.Mutex
	winner, winRev := -1, uint64(0)
	errs := race(func(i int) error {
		r, err := b.Update(ctxT(t), "k", []byte(strconv.Itoa(i)), rev)
		if err == nil {
			mu.Lock()
			winner, winRev = i, r
			mu.Unlock()
		}
		return err
	})
	wins, losses := tally(t, errs, kv.ErrConflict)
	if wins != 1 || losses != racers-1 {
		t.Fatalf("%d updates won, %d got ErrConflict; want 1 and %d", wins, losses, racers-1)
	}
	wantValue(t, b, "k", strconv.Itoa(winner), winRev)
}

// raceCounter: increments by read-then-Update with retries lose none.
func raceCounter(t *testing.T, b kv.Bucket) {
	const workers, increments, maxTries = 8, 10, 500
	mustCreate(t, b, "n", "0")
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			for range increments {
				errs[w] = increment(t, b, "n", maxTries)
				if errs[w] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", w, err)
		}
	}
	wantValue(t, b, "n", strconv.Itoa(workers*increments), 0)
}

func increment(t *testing.T, b kv.Bucket, key string, maxTries int) error {
	for range maxTries {
		e, err := b.Get(ctxT(t), key)
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(string(e.Value))
		if err != nil {
			return err
		}
		_, err = b.Update(ctxT(t), key, []byte(strconv.Itoa(n+1)), e.Revision)
		if err == nil {
			return nil
		}
		if !errors.Is(err, kv.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("no increment after %d tries", maxTries)
}

// raceConsumeUpdate: consumers race with writers updating the same key. However the
// writes interleave, exactly one Consume ever returns the key (a final one after the
// race if none did), losers see ErrNotFound or, against persistent rewrites,
// ErrConflict.
func raceConsumeUpdate(t *testing.T, b kv.Bucket) {
	const maxTries = 100
	mustCreate(t, b, "k", "0")
	var mu sync.Mutex
	var won []kv.Entry
	errs := race(func(i int) error {
		if i%2 == 0 {
			e, err := b.Consume(ctxT(t), "k")
			if err == nil {
				mu.Lock()
				won = append(won, e)
				mu.Unlock()
			}
			if errors.Is(err, kv.ErrConflict) {
				return kv.ErrNotFound // allowed: this consumer lost to the writers
			}
			return err
		}
		for range maxTries { // update until the key is consumed or this write lands
			e, err := b.Get(ctxT(t), "k")
			if errors.Is(err, kv.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			_, err = b.Update(ctxT(t), "k", []byte(strconv.Itoa(i)), e.Revision)
			if !errors.Is(err, kv.ErrConflict) {
				return err
			}
		}
		return nil
	})
	tally(t, errs, kv.ErrNotFound)
	if len(won) == 0 {
		e, err := b.Consume(ctxT(t), "k")
		if err != nil {
			t.Fatalf("no consumer won and the key is not consumable: %v", err)
		}
		won = append(won, e)
	}
	if len(won) != 1 {
		t.Fatalf("%d consumers won, want 1", len(won))
	}
	wantGone(t, b, "k")
}
