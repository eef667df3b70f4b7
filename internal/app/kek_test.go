package app

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ninesid/nines/internal/config"
)

func kekLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewJSONHandler(&buf, nil)), &buf
}

func TestLoadKEKGeneratedOnTheEmbeddedDefault(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	log, buf := kekLogger()
	k1, err := loadKEK(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != 32 {
		t.Fatalf("KEK has %d bytes", len(k1))
	}
	path := filepath.Join(dir, "kek")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kek file: %v, mode %v", err, fi.Mode().Perm())
	}
	if !strings.Contains(buf.String(), "next to") || !strings.Contains(buf.String(), `"level":"WARN"`) {
		t.Errorf("no warning about the generated KEK: %s", buf.String())
	}
	k2, err := loadKEK(cfg, log)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second load: %v, same key %v", err, bytes.Equal(k1, k2))
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if strings.Contains(buf.String(), enc.EncodeToString(k1)[:20]) {
			t.Fatal("the KEK reached the log")
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".kek-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestLoadKEKConfigured(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	kekFile := filepath.Join(t.TempDir(), "kek.secret")
	if err := os.WriteFile(kekFile, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mod  func(c *config.Config)
	}{
		{"embedded with NINES_KEK_FILE", func(c *config.Config) { c.KEKFile = kekFile }},
		{"embedded with NINES_KEK", func(c *config.Config) { c.KEK = config.Secret(base64.StdEncoding.EncodeToString(key)) }},
		{"postgres with NINES_KEK_FILE", func(c *config.Config) {
			c.KEKFile = kekFile
			c.DatabaseURL = "postgres://nines@127.0.0.1:1/nines"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := config.Config{HTTPAddr: "127.0.0.1:0", DataDir: dir, LogLevel: "info", Environ: []string{},
				ShutdownTimeout: 10 * time.Second}
			tt.mod(&cfg)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			log, buf := kekLogger()
			k, err := loadKEK(cfg, log)
			if err != nil || !bytes.Equal(k, key) {
				t.Fatalf("loadKEK = %v, configured key %v", err, bytes.Equal(k, key))
			}
			if _, err := os.Stat(filepath.Join(dir, "kek")); !os.IsNotExist(err) {
				t.Errorf("a kek file was generated although one is configured (%v)", err)
			}
			if buf.Len() != 0 {
				t.Errorf("logged %s", buf.String())
			}
		})
	}
}

func TestLoadKEKRefuses(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"not base64", "not a key at all\n", 0o600, "not a key-encryption key"},
		{"too short", base64.StdEncoding.EncodeToString(make([]byte, 16)), 0o600, "not a key-encryption key"},
		{"empty", "", 0o600, "not a key-encryption key"},
		{"readable by others", base64.StdEncoding.EncodeToString(make([]byte, 32)), 0o644, "readable by others"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, dir)
			path := filepath.Join(dir, "kek")
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			log, _ := kekLogger()
			k, err := loadKEK(cfg, log)
			if err == nil || k != nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("loadKEK = %v, %v; want an error with %q", k, err, tt.want)
			}
			if tt.content != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.content)) {
				t.Errorf("the error shows the file's content: %v", err)
			}
		})
	}

	// PostgreSQL without a configured KEK: no generated file, a pointer to the setting.
	dir := t.TempDir()
	cfg := config.Config{HTTPAddr: "127.0.0.1:0", DataDir: dir, LogLevel: "info", Environ: []string{},
		ShutdownTimeout: 10 * time.Second, DatabaseURL: "postgres://nines@127.0.0.1:1/nines"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log, _ := kekLogger()
	if _, err := loadKEK(cfg, log); err == nil || !strings.Contains(err.Error(), "NINES_KEK_FILE") {
		t.Errorf("loadKEK on PostgreSQL without a KEK = %v, want an error naming NINES_KEK_FILE", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kek")); !os.IsNotExist(err) {
		t.Errorf("a kek file was generated for PostgreSQL (%v)", err)
	}
}
