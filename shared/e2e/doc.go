// Package e2e holds the end-to-end tests: the hub and the agents run as real
// processes of the shared/systest rig (built once per run, with the race
// detector; killed with SIGKILL where a test says so), the stores are woosim
// simulators on loopback, and PostgreSQL is a throwaway cluster. The tests
// check the invariants of ../../shared/DESIGN.md: exactly once, convergence
// and nothing lost.
package e2e
