package pgcluster

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// As root, PostgreSQL runs as the postgres user, which must be able to walk
// down to the data dir: a private parent is refused with the fix spelled
// out, before initdb fails obscurely. The server's user here is one other
// than the test's, so that the check runs whoever runs the tests.
func TestCheckReachable_PrivateParentIsExplained(t *testing.T) {
	private := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	other := uint32(os.Getuid() + 1)
	c := &Cluster{cred: &syscall.Credential{Uid: other, Gid: other}}
	err := c.checkReachable(filepath.Join(private, "pg"))
	if err == nil || !strings.Contains(err.Error(), "chmod o+x "+private) {
		t.Fatalf("checkReachable under a 0700 parent: %v, want an error naming chmod o+x %s", err, private)
	}

}
