package systest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/stockwire/stockwire"

// listedPackage is the part of `go list -json` the rule reads.
type listedPackage struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// forbidden says which top-level parts of the module a part must not
// import: shared/ is the common ground under both sides, and the hub and
// the agent meet only through it (the link in shared/wire, the API in
// shared/hubapi).
var forbidden = map[string][]string{
	"shared": {"hub", "agent"},
	"agent":  {"hub"},
	"hub":    {"agent"},
}

// part returns the top-level directory of a module package, or "" for a
// package outside the module.
func part(path string) string {
	rest, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return ""
	}
	first, _, _ := strings.Cut(rest, "/")
	return first
}

// violations lists every import edge, tests included, that forbidden rules
// out, as "from -> to".
func violations(pkgs []listedPackage) []string {
	var bad []string
	for _, p := range pkgs {
		from := part(p.ImportPath)
		for _, imports := range [][]string{p.Imports, p.TestImports, p.XTestImports} {
			for _, imp := range imports {
				if slices.Contains(forbidden[from], part(imp)) {
					bad = append(bad, strings.TrimPrefix(p.ImportPath, module+"/")+" -> "+strings.TrimPrefix(imp, module+"/"))
				}
			}
		}
	}
	slices.Sort(bad)
	return slices.Compact(bad)
}

func TestImportDirection(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), "go", "list", "-json", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 || !slices.ContainsFunc(pkgs, func(p listedPackage) bool { return p.ImportPath == module+"/hub" }) {
		t.Fatalf("go list found %d packages and no hub package: the rule would check nothing", len(pkgs))
	}
	if bad := violations(pkgs); len(bad) > 0 {
		t.Errorf("imports against the layout (shared imports neither hub nor agent; hub and agent not each other):\n  %s",
			strings.Join(bad, "\n  "))
	}
}

func TestViolationsCatchesEveryForbiddenEdge(t *testing.T) {
	pkgs := []listedPackage{
		{ImportPath: module + "/shared/hubapi", Imports: []string{"fmt", module + "/hub"}},
		{ImportPath: module + "/shared/woosim", XTestImports: []string{module + "/agent/wooclient"}},
		{ImportPath: module + "/agent/stock", TestImports: []string{module + "/hub/postgres"}},
		{ImportPath: module + "/hub/web", Imports: []string{module + "/agent"}},
		{ImportPath: module + "/hub/web", Imports: []string{module + "/shared/hubapi", module + "/hub"}},
		{ImportPath: module + "/agent/cmd/agent", Imports: []string{module + "/shared/wire", module + "/agent/stock"}},
		{ImportPath: module + "/dashboards", TestImports: []string{module + "/shared/systest"}},
	}
	want := []string{
		"agent/stock -> hub/postgres",
		"hub/web -> agent",
		"shared/hubapi -> hub",
		"shared/woosim -> agent/wooclient",
	}
	if got := violations(pkgs); !slices.Equal(got, want) {
		t.Errorf("violations = %q, want %q", got, want)
	}
}
