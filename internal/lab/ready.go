package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

var readyClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// httpReady answers nil when u answers 200.
func httpReady(ctx context.Context, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := readyClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d %s", u, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// checkReady waits until every replica has the tenant, every login process serves its
// discovery document through its edge's proxy, and every edge routes to its own
// region's clusters and serves the tenant's discovery document. Every one of those
// documents must name the lab's one issuer (PublicURL/t/{tenant}): the login tier takes
// the issuer from its NINES_PUBLIC_URL, never from the Host header, so a request to a
// region's own edge address answers with the public issuer too.
func (s *supervisor) checkReady(ctx context.Context) error {
	var repURLs []string
	for _, reps := range s.p.replicas {
		for _, r := range reps {
			repURLs = append(repURLs, r.pg.url(pgDatabase))
		}
	}
	if err := waitReplicated(ctx, s.p.primary.pg.url(pgDatabase), repURLs); err != nil {
		return err
	}
	st := s.state()
	issuer := st.PublicURL + "/t/" + st.Tenant
	var checks []func(context.Context) (bool, error)
	for _, r := range st.Regions {
		if r.Issuer != issuer {
			return fmt.Errorf("lab: region %s names the issuer %q, the lab's public one is %q", r.Name, r.Issuer, issuer)
		}
		for _, c := range r.Clusters {
			for _, u := range c.LoginURL {
				checks = append(checks, discoveryCheck(u+"/t/"+st.Tenant, issuer))
			}
		}
		checks = append(checks, discoveryCheck(r.EdgeURL+"/t/"+st.Tenant, issuer), edgeServesCheck(r.EdgeCtl))
	}
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, check := range checks {
		wg.Go(func() { errs[i] = pollUntil(ctx, 90*time.Second, check) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// discoveryCheck is done when base's discovery document names issuer.
func discoveryCheck(base, issuer string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/.well-known/openid-configuration", nil)
		if err != nil {
			return false, err
		}
		resp, err := readyClient.Do(req)
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		var doc struct {
			Issuer string `json:"issuer"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&doc) != nil {
			return false, nil
		}
		if doc.Issuer != issuer {
			return false, fmt.Errorf("lab: %s names the issuer %q, want %q", base, doc.Issuer, issuer)
		}
		return true, nil
	}
}

// edgeServesCheck is done when the edge reports a healthy login cluster in its own
// region.
func edgeServesCheck(ctl string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ctl+"/readyz", nil)
		if err != nil {
			return false, err
		}
		resp, err := readyClient.Do(req)
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		var rd struct {
			OwnRegionServes bool `json:"own_region_serves"`
		}
		return resp.StatusCode == http.StatusOK && json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&rd) == nil &&
			rd.OwnRegionServes, nil
	}
}
