package storetest

import (
	"bytes"
	"slices"

	"github.com/google/uuid"

	"github.com/ninesid/nines/internal/user"
)

// idsOf returns the IDs of users, sorted.
func idsOf(us []user.User) []uuid.UUID {
	ids := make([]uuid.UUID, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	sortIDs(ids)
	return ids
}

func sortIDs(ids []uuid.UUID) {
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
}

func sortedByID(us []user.User) []user.User {
	out := slices.Clone(us)
	slices.SortFunc(out, func(a, b user.User) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return out
}
