package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/ninesid/nines/internal/client"
)

func (p *planner) app(ctx context.Context, s *scope, j int, a *appSpec) error {
	path := index(s.path+".applications", j)
	name := s.slug + "/" + a.ClientID
	want := a.desired()
	var cur *apiApp
	if s.exists {
		var err error
		if cur, err = p.api.findApp(ctx, s.slug, a.ClientID); err != nil {
			return err
		}
	}
	if cur == nil {
		body := map[string]any{
			"client_id":                    want.ClientID,
			"client_name":                  want.ClientName,
			"type":                         string(want.Type),
			"redirect_uris":                want.RedirectURIs,
			"post_logout_redirect_uris":    want.PostLogoutRedirectURIs,
			"grant_types":                  want.GrantTypes,
			"response_types":               want.ResponseTypes,
			"token_endpoint_auth_method":   want.TokenEndpointAuthMethod,
			"id_token_signed_response_alg": want.IDTokenSignedResponseAlg,
		}
		if a.JWKS != nil {
			body["jwks"] = a.JWKS
		}
		p.plan.add(change{kind: create, secret: want.UsesSecret(),
			line: fmt.Sprintf("+ application %s (client_id=%s)", name, want.ClientID),
			run: func(ctx context.Context, x *executor) error {
				created, err := x.api.createApp(ctx, s.slug, body)
				if err != nil {
					return x.wrap(path, err)
				}
				if created.ClientSecret != "" {
					x.pending = &secretLine{Tenant: s.slug, ClientID: want.ClientID, ClientSecret: created.ClientSecret}
				}
				return nil
			}})
		return nil
	}
	if cur.Type != string(want.Type) {
		detail := fmt.Sprintf("is %q on the server and the file says %q", cur.Type, want.Type)
		if a.Type == "" {
			detail += " (the default when type is omitted)"
		}
		p.ps.add(path+".type", detail+"; an application's type cannot change: "+
			"register a new client_id, or delete the application first")
		return nil
	}
	var d diff
	d.str("client_name", cur.ClientName, &want.ClientName)
	d.list("redirect_uris", cur.RedirectURIs, want.RedirectURIs)
	d.list("post_logout_redirect_uris", cur.PostLogoutRedirectURIs, want.PostLogoutRedirectURIs)
	d.list("grant_types", cur.GrantTypes, want.GrantTypes)
	d.list("response_types", cur.ResponseTypes, want.ResponseTypes)
	d.str("token_endpoint_auth_method", cur.TokenEndpointAuthMethod, &want.TokenEndpointAuthMethod)
	d.str("id_token_signed_response_alg", cur.IDTokenSignedResponseAlg, &want.IDTokenSignedResponseAlg)
	if !sameJSON(cur.JWKS, want.JWKS) {
		var v any // nil: remove the server's JWKS
		if a.JWKS != nil {
			v = a.JWKS
		}
		d.setShown("jwks", describeJWKS(cur.JWKS), describeJWKS(want.JWKS), v)
	}
	id := cur.ID
	if d.empty() {
		return nil
	}
	// An application that starts authenticating with a secret has none until one is
	// generated (the server does not make one on PATCH); apply generates it right after
	// the update and hands it out like a new application's secret.
	was := client.Application{TokenEndpointAuthMethod: cur.TokenEndpointAuthMethod}
	needsSecret := !was.UsesSecret() && want.UsesSecret()
	if needsSecret {
		d.details = append(d.details, "a client secret will be generated")
	}
	p.plan.add(change{kind: update, secret: needsSecret, details: d.details,
		line: "~ application " + name + ": " + strings.Join(d.fields, ", "),
		run: func(ctx context.Context, x *executor) error {
			if err := x.api.patchApp(ctx, s.slug, id, d.patch); err != nil {
				return x.wrap(path, err)
			}
			if !needsSecret {
				return nil
			}
			sec, err := x.api.newSecret(ctx, s.slug, id)
			if err != nil {
				return x.wrap(path, fmt.Errorf("updated, but generating its client secret failed; generate one with POST …/applications/%s/secret: %w", id, err))
			}
			x.pending = &secretLine{Tenant: s.slug, ClientID: want.ClientID, ClientSecret: sec}
			return nil
		}})
	return nil
}

// sameJSON reports whether two JSON texts hold the same value (member order and spacing
// aside). An absent value and null are the same.
func sameJSON(a, b []byte) bool {
	var x, y any
	if len(a) > 0 && json.Unmarshal(a, &x) != nil {
		return false
	}
	if len(b) > 0 && json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// describeJWKS summarises a JWKS for a dry run by its key IDs; the keys themselves are
// long and say nothing to a reader.
func describeJWKS(raw []byte) string {
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if len(raw) == 0 || string(raw) == "null" {
		return "none"
	}
	if json.Unmarshal(raw, &set) != nil {
		return "(not a key set)"
	}
	kids := make([]string, len(set.Keys))
	for i, k := range set.Keys {
		kids[i] = fmt.Sprintf("%q", k.KID)
	}
	return fmt.Sprintf("%d keys [%s]", len(set.Keys), strings.Join(kids, ", "))
}
