// Package docstest checks that the operator's documents agree with the
// binaries they describe: README.md's "Running it for real" walkthrough
// runs as written against real processes (readme_test.go), and
// compose.yaml passes the Compose specification's loader and sets only
// images, flags, variables, ports and healthchecks that exist
// (compose_test.go). It has no code outside its tests; it runs the
// commands through shared/systest and imports neither the hub nor the
// agent.
package docstest
