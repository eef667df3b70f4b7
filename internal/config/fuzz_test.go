package config

import (
	"strings"
	"testing"
)

// FuzzValidate: any settings must give a verdict without panicking, and no problem text
// may quote a secret: the bootstrap token, the KEK or a database password.
func FuzzValidate(f *testing.F) {
	f.Add("postgres://u:pw@db/n", "tok", "a2V5", "https://id.example.com", "127.0.0.1:8080", "eu")
	f.Add("mysql://root:pw@db", "", "%%%", "ftp://x?y#z", ":", "EU")
	f.Add("", "0123456789abcdef0123456789abcdef", "", "", "[::1]:0", "")
	f.Fuzz(func(t *testing.T, dbPassword, token, kek, publicURL, addr, region string) {
		const marker = "SECRET-" // secrets carry it, so a match in a message is a leak
		for _, plain := range []string{publicURL, addr, region} {
			if strings.Contains(plain, "SECRET") {
				return // a non-secret setting that is quoted on purpose
			}
		}
		c := valid()
		c.DatabaseURL = "postgres://app:" + marker + dbPassword + "@db/n"
		c.ReplicaURLs = []string{"mysql://app:" + marker + dbPassword + "@r1/n"}
		c.BootstrapAdminToken = Secret(marker + token)
		c.KEK = Secret(marker + kek)
		c.PublicURL, c.HTTPAddr, c.Region = publicURL, addr, region
		err := c.Validate()
		if err == nil {
			t.Fatal("a replica URL that is not postgres passed")
		}
		if strings.Contains(err.Error(), marker) {
			t.Fatalf("problem text quotes a secret: %v", err)
		}
	})
}
