// Package docstest checks that the operator's documents agree with the
// binaries they describe: README.md's "Running it for real" walkthrough
// runs as written against real processes (readme_test.go). It has no code
// outside its tests; it runs the commands through shared/systest and
// imports neither the hub nor the agent.
package docstest
