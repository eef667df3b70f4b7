package sqlite

import "github.com/ninesid/nines/internal/tenant"

func tenantFixture(slug string) tenant.Tenant {
	return tenant.Tenant{Slug: slug, DisplayName: "Tenant " + slug, Status: tenant.StatusActive}
}
