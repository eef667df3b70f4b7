package app

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ninesid/nines/internal/config"
	"github.com/ninesid/nines/internal/keys"
)

// kekFileName is the generated key-encryption key in the data directory (embedded
// default only).
const kekFileName = "kek"

// loadKEK returns the key-encryption key that seals tenants' signing keys.
//
//   - A configured KEK (NINES_KEK or NINES_KEK_FILE, decoded by config) is used as is.
//   - On the embedded default without one, <data dir>/kek is read, or created with 32
//     random bytes (base64, mode 0600) on the first start, and a warning is logged: the
//     key then sits next to the data it protects, which is fine for a laptop and wrong
//     for production.
//   - On PostgreSQL without one, it is an error: a KEK generated on one replica's disk
//     would not be the one the others use.
//
// Neither the key nor the file's content ever reaches the log or an error.
func loadKEK(cfg config.Config, logger *slog.Logger) ([]byte, error) {
	if k := cfg.KEKBytes(); k != nil {
		if err := keys.ValidateKEK(k); err != nil {
			return nil, fmt.Errorf("NINES_KEK / NINES_KEK_FILE: %w", err)
		}
		return k, nil
	}
	if !cfg.Embedded() {
		return nil, errors.New("no key-encryption key: with NINES_DATABASE_URL set, set NINES_KEK_FILE " +
			"(a file holding base64 of 32 random bytes, e.g. a mounted secret) or NINES_KEK; " +
			"every admin and login process must use the same one")
	}
	path := filepath.Join(cfg.DataDir, kekFileName)
	k, err := readKEKFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if k, err = createKEKFile(path); err == nil {
			logger.Warn("no NINES_KEK or NINES_KEK_FILE set: generated a key-encryption key and keep it next to "+
				"the data it protects; anyone who can read the data directory can open the signing keys. "+
				"For production set NINES_KEK_FILE", "kek_file", path)
			return k, nil
		}
		if errors.Is(err, fs.ErrExist) { // another process created it first
			k, err = readKEKFile(path)
		}
	}
	if err != nil {
		return nil, err
	}
	logger.Warn("no NINES_KEK or NINES_KEK_FILE set: using the generated key-encryption key kept next to the data "+
		"it protects; for production set NINES_KEK_FILE", "kek_file", path)
	return k, nil
}

// readKEKFile reads a generated KEK file. A file that others may read is refused.
func readKEKFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s: the key-encryption key file is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b)))
	clear(b)
	if err != nil || keys.ValidateKEK(k) != nil {
		return nil, fmt.Errorf("%s: not a key-encryption key (base64 of %d bytes); restore it from a backup: "+
			"without it the signing keys cannot be opened", path, keys.KEKSize)
	}
	return k, nil
}

// createKEKFile writes a new random KEK to path without ever exposing a partial file:
// it is written to a temporary file, synced, then linked into place, which fails with
// fs.ErrExist when path already exists.
func createKEKFile(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	k := make([]byte, keys.KEKSize)
	_, _ = rand.Read(k) // crypto/rand.Read never fails (Go 1.24+)
	f, err := os.CreateTemp(filepath.Dir(path), ".kek-*")
	if err != nil {
		return nil, err
	}
	tmp := f.Name()
	defer func() { _ = os.Remove(tmp) }()
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		return nil, err
	}
	return k, nil
}
