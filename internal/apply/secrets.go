package apply

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// secretSink receives a client secret the server generated; it is the only place a
// secret leaves this package.
type secretSink interface {
	put(tenant, clientID, secret string) error
}

// stdoutSecrets prints the secret once, in a block that is hard to miss.
type stdoutSecrets struct{ w io.Writer }

func (s stdoutSecrets) put(tenant, clientID, secret string) error {
	_, err := fmt.Fprintf(s.w, "-----BEGIN CLIENT SECRET %s/%s----- (shown only this once: store it now)\n%s\n-----END CLIENT SECRET %s/%s-----\n",
		tenant, clientID, secret, tenant, clientID)
	if err != nil {
		return fmt.Errorf("application %s/%s was created but its client secret could not be printed (%v); generate a new secret for it", tenant, clientID, err)
	}
	return nil
}

// fileSecrets appends one JSON object per line to a 0600 file and prints only where.
type fileSecrets struct {
	f    *os.File
	path string
	w    io.Writer
}

// secretLine is one line of the secrets file.
type secretLine struct {
	Tenant       string `json:"tenant"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// openSecrets opens (creating or appending) the secrets file. It refuses a file that is
// not a regular file or that others can read, rather than changing its mode.
func openSecrets(path string, stdout io.Writer) (*fileSecrets, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("apply: secrets file: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	if err == nil && fi.Mode().Perm()&0o077 != 0 {
		err = fmt.Errorf("mode %v lets others read it; chmod 600 it or choose a new path", fi.Mode().Perm())
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("apply: secrets file %s: %w", path, err)
	}
	return &fileSecrets{f: f, path: path, w: stdout}, nil
}

func (s *fileSecrets) put(tenant, clientID, secret string) error {
	b, err := json.Marshal(secretLine{Tenant: tenant, ClientID: clientID, ClientSecret: secret})
	if err == nil {
		_, err = s.f.Write(append(b, '\n'))
	}
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		return fmt.Errorf("application %s/%s was created but its client secret could not be written to %s (%v); generate a new secret for it", tenant, clientID, s.path, err)
	}
	_, err = fmt.Fprintf(s.w, "  client secret for %s/%s written to %s\n", tenant, clientID, s.path)
	return err
}

func (s *fileSecrets) Close() error { return s.f.Close() }
