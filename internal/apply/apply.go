package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ninesid/nines/internal/client"
)

// Options configures one apply run. cmd/nines fills it from flags and the environment.
type Options struct {
	File        string // the YAML file (-f)
	Server      string // base URL of the admin API, e.g. https://idp.example.com
	Token       string // admin API token (cmd reads NINES_ADMIN_TOKEN); never printed
	DryRun      bool   // print the diff, write nothing
	SecretsFile string // append generated client secrets here (mode 0600) instead of stdout
	// HTTPClient is used for every request; nil means a client with a DefaultTimeout
	// that does not follow redirects. A caller's client should do the same.
	HTTPClient *http.Client
}

// DefaultTimeout bounds each admin API request of the default HTTP client.
const DefaultTimeout = 30 * time.Second

// Run makes the server at opts.Server match opts.File, printing one line per change
// and a summary to stdout. It reads everything first and writes nothing when the file
// is invalid or contradicts the server; those problems come back as a *FileError. If a
// write fails part way, the lines printed so far are the changes that were made.
// Run returns its errors rather than printing them; stderr receives notes about what
// apply chose not to do (a key_generation behind the server's).
func Run(ctx context.Context, opts Options, stdout, stderr io.Writer) error {
	if opts.File == "" {
		return errors.New("apply: no file given (-f FILE)")
	}
	a, err := newAPI(opts)
	if err != nil {
		return err
	}
	doc, err := load(opts.File)
	if err != nil {
		return err
	}
	p := &planner{api: a}
	for i := range doc.Tenants {
		if err := p.tenant(ctx, i, &doc.Tenants[i]); err != nil {
			return fmt.Errorf("apply: reading the server's state: %w", err)
		}
	}
	if err := p.ps.err(opts.File); err != nil {
		return err
	}
	for _, n := range p.notes {
		if _, err := io.WriteString(stderr, n+"\n"); err != nil {
			return err
		}
	}
	if opts.DryRun {
		return p.plan.print(stdout)
	}
	x := &executor{api: a, file: opts.File, secrets: stdoutSecrets{w: stdout}}
	if opts.SecretsFile != "" && p.plan.createsApplication() {
		fs, err := openSecrets(opts.SecretsFile, stdout)
		if err != nil {
			return err
		}
		defer fs.Close()
		x.secrets = fs
	}
	return x.execute(ctx, &p.plan, stdout)
}

func newAPI(opts Options) (*api, error) {
	if strings.TrimSpace(opts.Token) == "" {
		return nil, errors.New("apply: no admin token: set NINES_ADMIN_TOKEN")
	}
	if opts.Server == "" {
		return nil, errors.New("apply: no server URL given")
	}
	u, err := url.Parse(strings.TrimRight(opts.Server, "/"))
	if err == nil && u.User != nil {
		return nil, errors.New("apply: the server URL must not hold credentials; the token comes from NINES_ADMIN_TOKEN")
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		shown := ""
		if err == nil {
			shown = fmt.Sprintf(" (got %q)", u.Redacted())
		}
		return nil, errors.New("apply: the server must be an http(s) URL such as https://idp.example.com" + shown)
	}
	if u.Scheme == "http" && !client.IsLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("apply: refusing to send the admin token in clear text to %s; use https", u.Host)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{
			Timeout: DefaultTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // the admin API never redirects; a 3xx is reported
			},
		}
	}
	return &api{base: u, token: opts.Token, hc: hc}, nil
}
