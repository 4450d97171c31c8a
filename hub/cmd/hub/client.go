package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stockwire/stockwire/shared/envflag"
	"github.com/stockwire/stockwire/shared/hubapi"
)

// client calls a running hub's API with the admin token.
type client struct {
	hubapi.Client
	// dataDir is where to look for AdminTokenFile when no token is given.
	dataDir string
}

// clientFlags adds --hub, --admin-token and --data-dir to fs.
func clientFlags(fs *flag.FlagSet, c *client) {
	fs.StringVar(&c.BaseURL, "hub", "http://127.0.0.1:8080", "hub base URL")
	fs.StringVar(&c.AdminToken, "admin-token", "", "admin API token; empty reads the one \"hub serve\" wrote to <data-dir>/admin-token")
	fs.StringVar(&c.dataDir, "data-dir", DefaultConfig().DataDir, "the data dir of \"hub serve\" on this machine, where it keeps the admin token for the CLI")
}

// parseClient parses fs and the environment and checks the client config.
// Flags and operands may come in any order ("stock set TEE-M --on-hand 4"
// as well as "stock set --on-hand 4 TEE-M"); fs.Args() are the operands
// then.
func parseClient(fs *flag.FlagSet, c *client, args []string, lookup func(string) (string, bool)) error {
	var operands []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		operands, args = append(operands, rest[0]), rest[1:]
	}
	if err := fs.Parse(append([]string{"--"}, operands...)); err != nil {
		return err
	}
	if err := envflag.Apply(fs, envPrefix, lookup); err != nil {
		return err
	}
	if c.AdminToken == "" {
		tok, err := readAdminToken(filepath.Join(c.dataDir, AdminTokenFile))
		if err != nil {
			return fmt.Errorf("no admin token: give --admin-token, set STOCKWIRE_ADMIN_TOKEN, or point --data-dir at the data dir of `hub serve` on this machine (%w)", err)
		}
		c.AdminToken = tok
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--hub %q must be an http:// or https:// URL", c.BaseURL)
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	c.HTTP = &http.Client{Timeout: 60 * time.Second}
	return nil
}

// readAdminToken reads the token `hub serve` keeps in path.
func readAdminToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return tok, nil
}

// isHelp reports whether arg asks for help instead of a command.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func storesCmd(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	const use = "usage: hub stores add|list|set|revoke [flags]\n\n" +
		"  add     add a store and print its agent credential\n" +
		"  list    list stores with their agent state\n" +
		"  set     change a store's policy, buffer, edit location or allocate parameters\n" +
		"  revoke  revoke a store and its agent credential\n\n" +
		"Run \"hub stores <command> --help\" for the flags of each."
	if len(args) == 0 {
		fmt.Fprintln(stderr, use)
		return errors.New("missing stores command")
	}
	if isHelp(args[0]) {
		fmt.Fprintln(stdout, use)
		return nil
	}
	var c client
	fs := flag.NewFlagSet("hub stores "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	clientFlags(fs, &c)
	switch args[0] {
	case "add":
		var name, u, policy string
		var buffer int64
		fs.StringVar(&name, "name", "", "store name (unique)")
		fs.StringVar(&u, "url", "", "store URL")
		fs.StringVar(&policy, "policy", "mirror", "mirror or allocate")
		fs.Int64Var(&buffer, "buffer", 0, "units held back from this store")
		fs.Usage = envflag.Usage(fs, envPrefix, "usage: hub stores add --name N --url U [flags]\n\nAdd a store and print its agent credential (shown once).")
		if err := parseClient(fs, &c, args[1:], lookup); err != nil {
			return err
		}
		var out hubapi.CreatedStore
		req := hubapi.NewStoreRequest{Name: name, URL: u, Policy: policy, Buffer: &buffer}
		if err := c.DoJSON(ctx, "POST", "/api/v1/stores", req, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "store %d created\nagent token (shown once): %s\n", out.ID, out.Token)
		return nil
	case "list":
		var asJSON bool
		fs.BoolVar(&asJSON, "json", false, "print JSON")
		fs.Usage = envflag.Usage(fs, envPrefix, "usage: hub stores list [flags]\n\nList stores with their agent state.")
		if err := parseClient(fs, &c, args[1:], lookup); err != nil {
			return err
		}
		var out hubapi.StoreList
		if err := c.DoJSON(ctx, "GET", "/api/v1/stores", nil, &out); err != nil {
			return err
		}
		if asJSON {
			return printJSON(stdout, out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPOLICY\tBUFFER\tSTATUS\tAGENT\tLAG\tURL")
		for _, s := range out.Stores {
			agent := "offline"
			if s.Agent.Connected {
				agent = "online"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%d\t%s\n", s.ID, s.Name, s.Policy, s.Buffer, s.Status, agent, s.Agent.SeqLag, s.URL)
		}
		return tw.Flush()
	case "set":
		var policy, editLocation string
		var buffer int64
		fs.StringVar(&policy, "policy", "", "mirror or allocate")
		fs.Int64Var(&buffer, "buffer", 0, "units held back from this store")
		fs.StringVar(&editLocation, "edit-location", "", "where hand edits accepted in the store are counted")
		// Each allocate flag, when given, sets its field of allocation.
		var allocation hubapi.AllocationUpdate
		allocFlags := map[string]**int64{}
		for _, f := range []struct {
			name, help string
			field      **int64
		}{
			{"low-water", "allocate: a store holding fewer units of a SKU gets a grant", &allocation.LowWater},
			{"min-grant", "allocate: smallest grant", &allocation.MinGrant},
			{"max-grant", "allocate: largest grant", &allocation.MaxGrant},
			{"cover-seconds", "allocate: a grant covers the recent sales rate for this long", &allocation.CoverSeconds},
			{"idle-seconds", "allocate: a store idle this long gives units back when others need them", &allocation.IdleSeconds},
		} {
			v := new(int64)
			fs.Int64Var(v, f.name, 0, f.help)
			allocFlags[f.name] = f.field
			*f.field = v
		}
		fs.Usage = envflag.Usage(fs, envPrefix, "usage: hub stores set [flags] ID\n\nChange a store's policy, buffer, edit location or allocate parameters; only the flags given change.")
		if err := parseClient(fs, &c, args[1:], lookup); err != nil {
			return err
		}
		id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if fs.NArg() != 1 || err != nil || id < 1 {
			return errors.New("want one store ID")
		}
		var req hubapi.StoreUpdateRequest
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		if given["policy"] {
			req.Policy = &policy
		}
		if given["buffer"] {
			req.Buffer = &buffer
		}
		if given["edit-location"] {
			req.EditLocation = &editLocation
		}
		for name, field := range allocFlags {
			if given[name] {
				req.Allocation = &allocation
			} else {
				*field = nil
			}
		}
		if req == (hubapi.StoreUpdateRequest{}) {
			return errors.New("nothing to change: give --policy, --buffer, --edit-location or an allocate parameter")
		}
		var out hubapi.Store
		if err := c.DoJSON(ctx, "PATCH", "/api/v1/stores/"+strconv.FormatInt(id, 10), req, &out); err != nil {
			return err
		}
		a := out.Allocation
		fmt.Fprintf(stdout, "store %d: policy %s, buffer %d, edit location %s, low water %d, grants %d..%d covering %ds, idle after %ds\n",
			out.ID, out.Policy, out.Buffer, out.EditLocation, a.LowWater, a.MinGrant, a.MaxGrant, a.CoverSeconds, a.IdleSeconds)
		return nil
	case "revoke":
		fs.Usage = envflag.Usage(fs, envPrefix, "usage: hub stores revoke [flags] ID\n\nRevoke a store and its agent credential at once.")
		if err := parseClient(fs, &c, args[1:], lookup); err != nil {
			return err
		}
		id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if fs.NArg() != 1 || err != nil || id < 1 {
			return errors.New("want one store ID")
		}
		if err := c.DoJSON(ctx, "DELETE", "/api/v1/stores/"+strconv.FormatInt(id, 10), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "store %d revoked\n", id)
		return nil
	}
	fmt.Fprintln(stderr, use)
	return fmt.Errorf("unknown stores command %q", args[0])
}

func stockCmd(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	const use = "usage: hub stock set|show|import [flags]\n\n" +
		"  set     record a physical count\n" +
		"  show    show one SKU's stock, locations and store targets\n" +
		"  import  import counts from a CSV file, all or nothing\n\n" +
		"Run \"hub stock <command> --help\" for the flags of each."
	if len(args) == 0 {
		fmt.Fprintln(stderr, use)
		return errors.New("missing stock command")
	}
	if isHelp(args[0]) {
		fmt.Fprintln(stdout, use)
		return nil
	}
	var c client
	fs := flag.NewFlagSet("hub stock "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	clientFlags(fs, &c)
	switch args[0] {
	case "set":
		var sku, loc string
		var onHand int64
		fs.StringVar(&sku, "sku", "", "SKU (or give it as the operand)")
		fs.StringVar(&loc, "location", "main", "location (warehouse)")
		fs.Int64Var(&onHand, "on-hand", 0, "physical count (required)")
		fs.Usage = envflag.Usage(fs, envPrefix, "usage: hub stock set SKU --on-hand N [--location L] [flags]\n\nRecord a physical count.")
		if err := parseClient(fs, &c, args[1:], lookup); err != nil {
			return err
		}
		if fs.NArg() == 1 && sku == "" {
			sku = fs.Arg(0)
		} else if fs.NArg() > 0 {
			return errors.New("want one SKU, as the operand or --sku")
		}
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		if sku == "" || !given["on-hand"] || onHand < 0 {
			return errors.New("a SKU and a non-negative --on-hand are required")
		}
		var out hubapi.SKUStock
		path := "/api/v1/skus/" + url.PathEscape(sku) + "/locations/" + url.PathEscape(loc)
		if err := c.DoJSON(ctx, "PUT", path, hubapi.CountRequest{OnHand: &onHand}, &out); err != nil {
			return err
		}
		return printJSON(stdout, out)
	case "show":
		var sku string
		fs.StringVar(&sku, "sku", "", "SKU (or give it as the operand)")
		fs.Usage = envflag.Usage(fs, envPrefix, "usage: hub stock show SKU [flags]\n\nShow one SKU's stock, locations and store targets.")
		if err := parseClient(fs, &c, args[1:], lookup); err != nil {
			return err
		}
		if fs.NArg() == 1 && sku == "" {
			sku = fs.Arg(0)
		}
		if sku == "" || fs.NArg() > 1 || fs.NArg() == 1 && sku != fs.Arg(0) {
			return errors.New("want one SKU, as the operand or --sku")
		}
		var out hubapi.SKUStock
		if err := c.DoJSON(ctx, "GET", "/api/v1/skus/"+url.PathEscape(sku), nil, &out); err != nil {
			return err
		}
		return printJSON(stdout, out)
	case "import":
		fs.Usage = envflag.Usage(fs, envPrefix, "usage: hub stock import [flags] FILE.csv|-\n\nImport sku,location,on_hand counts, all or nothing.")
		if err := parseClient(fs, &c, args[1:], lookup); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return errors.New("want one CSV file (- for stdin)")
		}
		var r io.Reader = os.Stdin
		if name := fs.Arg(0); name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return fmt.Errorf("open import: %w", err)
			}
			defer f.Close()
			r = f
		}
		var out hubapi.ImportResult
		if err := c.Do(ctx, "POST", "/api/v1/stock/import", "text/csv", r, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "imported %d counts\n", out.Imported)
		return nil
	}
	fmt.Fprintln(stderr, use)
	return fmt.Errorf("unknown stock command %q", args[0])
}
