package storetest

import (
	"testing"

	"github.com/ninesid/nines/internal/store/sqlstore"
)

// Run runs the whole suite. open must return a fresh, migrated, empty store for each
// subtest and arrange its own cleanup with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) *sqlstore.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *sqlstore.Store)
	}{
		{"Tenants", testTenants},
		{"TenantUniqueKeys", testTenantUniqueKeys},
		{"Users", testUsers},
		{"UserUniqueKeys", testUserUniqueKeys},
		{"UserStoredAsGiven", testUserStoredAsGiven},
		{"Groups", testGroups},
		{"GroupUniqueKeys", testGroupUniqueKeys},
		{"Members", testMembers},
		{"Applications", testApplications},
		{"ApplicationUniqueKeys", testApplicationUniqueKeys},
		{"APITokens", testAPITokens},
		{"VersionConflicts", testVersionConflicts},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ConcurrentCreates", testConcurrentCreates},
		{"ConcurrentAddMember", testConcurrentAddMember},
		{"Pagination", testPagination},
		{"LimitClamping", testLimitClamping},
		{"DeleteTenantCascades", testDeleteTenantCascades},
		{"DeleteUserCascades", testDeleteUserCascades},
		{"DeleteGroupCascades", testDeleteGroupCascades},
		{"SigningKeysRoundTrip", testSigningKeysRoundTrip},
		{"CreateTenantWithKeys", testCreateTenantWithKeys},
		{"RotateSigningKeys", testRotateSigningKeys},
		{"CompleteSigningKeys", testCompleteSigningKeys},
		{"TenantsWithIncompleteKeys", testTenantsWithIncompleteKeys},
		{"ConcurrentRotations", testConcurrentRotations},
		{"RecordSignIn", testRecordSignIn},
		{"SetPasswordHash", testSetPasswordHash},
		{"Events", testEvents},
		{"PruneEvents", testPruneEvents},
		{"ApplyCommand", testApplyCommand},
		{"ConcurrentApplyCommand", testConcurrentApplyCommand},
		{"Reader", testReader},
		{"ReaderHasNoWrites", testReaderHasNoWrites},
		{"CrossTenant", testCrossTenant},
		{"CrossTenantCoversEveryMethod", testCrossTenantCoversEveryMethod},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			if s == nil {
				t.Fatal("open returned a nil store")
			}
			tc.fn(t, s)
		})
	}
}
