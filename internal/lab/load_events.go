package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Commands compares the user.signed_in commands a load issued with the events the
// worker wrote for them, read back through the admin API (GET
// /admin/v1/tenants/{t}/events?type=user.signed_in&user_id=…&since=…&until=…, every
// page). A worker writes one event per command, with the command's ID as the event's:
//
//   - Applied is the number of distinct event IDs;
//   - Lost is Issued − Applied when positive: sign-ins the load saw succeed whose
//     command never became an event;
//   - Duplicated counts events listed more than once under one ID, plus the events
//     beyond Issued + Uncertain (more events than the load could have caused).
//
// Uncertain sign-ins (no answer or a 5xx to the password POST) may or may not have
// issued a command, so up to that many extra events are not counted as duplicates;
// and, the other way, an uncertain sign-in that was applied can mask a lost one. When
// Uncertain is 0 the comparison is exact.
type Commands struct {
	Measured   bool `json:"measured"` // false: the events could not be read
	Issued     int  `json:"issued"`
	Uncertain  int  `json:"uncertain"`
	Applied    int  `json:"applied"`
	Listed     int  `json:"listed"` // events listed, duplicates included
	Lost       int  `json:"lost"`
	Duplicated int  `json:"duplicated"`
}

// compare fills Lost and Duplicated from the counts.
func (c Commands) compare() Commands {
	c.Lost = max(0, c.Issued-c.Applied)
	c.Duplicated = (c.Listed - c.Applied) + max(0, c.Applied-c.Issued-c.Uncertain)
	return c
}

// eventsPageLimit is the admin API's largest page; maxEventPages bounds one count.
const (
	eventsPageLimit = 500
	maxEventPages   = 10_000
)

// CountCommands reads the user.signed_in events of res's users in res's window
// (from the warm-up's start to the end + 1 s, the issue times of every command it could
// have caused) and compares them with what res issued. The window starts exactly at the
// warm-up: a command is stamped by the login process that received the sign-in, on the
// same clock, after the warm-up began; a margin before it would count the last sign-ins
// of a load that ended just before (two runs back to back).
func CountCommands(ctx context.Context, t Target, res *Result) (Commands, error) {
	ids, err := userIDs(ctx, t, res.Users)
	if err != nil {
		return Commands{Issued: res.Commands.Issued, Uncertain: res.Commands.Uncertain}, err
	}
	return countCommands(ctx, t, res, ids)
}

func countCommands(ctx context.Context, t Target, res *Result, ids []string) (Commands, error) {
	c := Commands{Issued: res.Commands.Issued, Uncertain: res.Commands.Uncertain}
	since, until := res.WarmupStart, res.End.Add(time.Second)
	seen := map[string]int{}
	for _, id := range ids {
		if err := listSignInEvents(ctx, t, id, since, until, seen); err != nil {
			return c, err
		}
	}
	for _, n := range seen {
		c.Listed += n
	}
	c.Applied, c.Measured = len(seen), true
	return c.compare(), nil
}

// userIDs looks every username up in the target's tenant.
func userIDs(ctx context.Context, t Target, usernames []string) ([]string, error) {
	var ids []string
	for _, name := range usernames {
		id, err := lookupUserID(ctx, t, name)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// AwaitCommands polls the count every 500 ms until every issued command is applied or
// wait has passed, and returns the last count (an error only when none succeeded).
func AwaitCommands(ctx context.Context, t Target, res *Result, wait time.Duration) (Commands, error) {
	deadline := time.Now().Add(wait)
	var (
		last    Commands
		lastErr error
		ids     []string
	)
	for {
		var (
			c   Commands
			err error
		)
		if ids == nil {
			ids, err = userIDs(ctx, t, res.Users)
		}
		if err == nil {
			c, err = countCommands(ctx, t, res, ids)
		}
		if err == nil {
			last, lastErr = c, nil
			if c.Applied >= c.Issued {
				return c, nil
			}
		} else if !last.Measured {
			lastErr = err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return last, lastErr
		}
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// adminGet GETs an admin API path (below /admin/v1) and decodes a 200's JSON into v.
func adminGet(ctx context.Context, t Target, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(t.AdminURL, "/")+"/admin/v1"+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+t.AdminToken)
	resp, err := adminHTTP.Do(req)
	if err != nil {
		return fmt.Errorf("admin API: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var p struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return fmt.Errorf("admin API: GET %s: %s %s %s", path, resp.Status, p.Title, p.Detail)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// adminHTTP never follows a redirect (it would carry the token elsewhere), never uses
// an environment proxy, and keeps no idle connection (its calls are few; nothing is
// left running between them).
var adminHTTP = &http.Client{
	Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// lookupUserID looks a username up in the target's tenant.
func lookupUserID(ctx context.Context, t Target, username string) (string, error) {
	var page struct {
		Items []struct {
			ID       string `json:"id"`
			Username string `json:"username"`
		} `json:"items"`
	}
	path := "/tenants/" + url.PathEscape(t.Tenant) + "/users?username=" + url.QueryEscape(username)
	if err := adminGet(ctx, t, path, &page); err != nil {
		return "", err
	}
	for _, u := range page.Items {
		if u.Username == username {
			return u.ID, nil
		}
	}
	return "", fmt.Errorf("admin API: tenant %s has no user %q", t.Tenant, username)
}

// listSignInEvents adds the IDs of userID's user.signed_in events in [since, until)
// to seen, page by page.
func listSignInEvents(ctx context.Context, t Target, lookupUserID string, since, until time.Time, seen map[string]int) error {
	q := url.Values{"type": {"user.signed_in"}, "user_id": {lookupUserID}, "limit": {fmt.Sprint(eventsPageLimit)},
		"since": {since.UTC().Format(time.RFC3339Nano)}, "until": {until.UTC().Format(time.RFC3339Nano)}}
	for range maxEventPages {
		var page struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		if err := adminGet(ctx, t, "/tenants/"+url.PathEscape(t.Tenant)+"/events?"+q.Encode(), &page); err != nil {
			return err
		}
		for _, e := range page.Items {
			seen[e.ID]++
		}
		if page.NextCursor == "" {
			return nil
		}
		q.Set("cursor", page.NextCursor)
	}
	return fmt.Errorf("admin API: more than %d pages of events", maxEventPages)
}
