package admin

import "net/http"

// access says who may call a route.
type access int

const (
	// public routes need no token (the OpenAPI document).
	public access = iota
	// global routes need a global token.
	global
	// tenantScoped routes take a global token or a token scoped to the {tenant} in the path.
	tenantScoped
)

// route is one entry of the admin API. routes is the single table Mount registers from
// and the OpenAPI test walks, so the document and the mux cannot drift apart.
type route struct {
	Method string
	Path   string // a ServeMux pattern path; {tenant} is a slug, {id} and {user_id} UUIDs, {seq} a stream sequence
	Access access
	Handle func(*API, *call) error
}

const (
	tenantPath = "/admin/v1/tenants/{tenant}"
	usersPath  = tenantPath + "/users"
	groupsPath = tenantPath + "/groups"
	appsPath   = tenantPath + "/applications"
	keysPath   = tenantPath + "/keys"
	eventsPath = tenantPath + "/events"
)

var routes = []route{
	{http.MethodGet, "/admin/v1/openapi.json", public, (*API).openAPI},

	{http.MethodPost, "/admin/v1/tenants", global, (*API).createTenant},
	{http.MethodGet, "/admin/v1/tenants", global, (*API).listTenants},
	{http.MethodGet, tenantPath, tenantScoped, (*API).getTenant},
	{http.MethodPatch, tenantPath, global, (*API).patchTenant},
	{http.MethodDelete, tenantPath, global, (*API).deleteTenant},

	{http.MethodGet, keysPath, tenantScoped, (*API).listSigningKeys},
	{http.MethodPost, keysPath + "/rotate", tenantScoped, (*API).rotateSigningKeys},

	{http.MethodPost, usersPath, tenantScoped, (*API).createUser},
	{http.MethodGet, usersPath, tenantScoped, (*API).listUsers},
	{http.MethodGet, usersPath + "/{id}", tenantScoped, (*API).getUser},
	{http.MethodPatch, usersPath + "/{id}", tenantScoped, (*API).patchUser},
	{http.MethodDelete, usersPath + "/{id}", tenantScoped, (*API).deleteUser},
	{http.MethodPost, usersPath + "/{id}/password", tenantScoped, (*API).setPassword},

	{http.MethodPost, groupsPath, tenantScoped, (*API).createGroup},
	{http.MethodGet, groupsPath, tenantScoped, (*API).listGroups},
	{http.MethodGet, groupsPath + "/{id}", tenantScoped, (*API).getGroup},
	{http.MethodPatch, groupsPath + "/{id}", tenantScoped, (*API).patchGroup},
	{http.MethodDelete, groupsPath + "/{id}", tenantScoped, (*API).deleteGroup},
	{http.MethodGet, groupsPath + "/{id}/members", tenantScoped, (*API).listMembers},
	{http.MethodPost, groupsPath + "/{id}/members", tenantScoped, (*API).addMember},
	{http.MethodDelete, groupsPath + "/{id}/members/{user_id}", tenantScoped, (*API).removeMember},

	{http.MethodPost, appsPath, tenantScoped, (*API).createApplication},
	{http.MethodGet, appsPath, tenantScoped, (*API).listApplications},
	{http.MethodGet, appsPath + "/{id}", tenantScoped, (*API).getApplication},
	{http.MethodPatch, appsPath + "/{id}", tenantScoped, (*API).patchApplication},
	{http.MethodDelete, appsPath + "/{id}", tenantScoped, (*API).deleteApplication},
	{http.MethodPost, appsPath + "/{id}/secret", tenantScoped, (*API).rotateSecret},

	{http.MethodGet, eventsPath, tenantScoped, (*API).listEvents},

	{http.MethodGet, "/admin/v1/deadletters", global, (*API).listDeadLetters},
	{http.MethodPost, "/admin/v1/deadletters/{seq}/replay", global, (*API).replayDeadLetter},

	{http.MethodGet, readOnlyPath, global, (*API).getReadOnly},
	{http.MethodPut, readOnlyPath, global, (*API).putReadOnly},

	{http.MethodPost, "/admin/v1/tokens", global, (*API).createToken},
	{http.MethodGet, "/admin/v1/tokens", global, (*API).listTokens},
	{http.MethodDelete, "/admin/v1/tokens/{id}", global, (*API).deleteToken},
}
