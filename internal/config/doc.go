// Package config is the one place nines' server settings are declared, read and checked:
// a single Config struct whose every field is both a command-line flag and a NINES_
// environment variable (twelve-factor; parsed by kong), and a Validate that reports every
// problem at once so an operator fixes a broken deployment in one round trip.
//
// The environment variable names are a contract: deployment manifests, the local
// topology and other tools set them. Renaming one is a breaking change.
//
// This package must never log, print or put into an error message a secret value (the
// key-encryption key, the bootstrap admin token, a database password): Config.LogValue
// and the Secret type redact them. It must never open a database or a listener either;
// it only describes and checks.
package config
