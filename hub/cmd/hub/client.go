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
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stockwire/stockwire/hub"
	"github.com/stockwire/stockwire/hub/web"
	"github.com/stockwire/stockwire/shared/envflag"
	"github.com/stockwire/stockwire/shared/hubapi"
)

// client calls a running hub's API with the admin token.
type client = hubapi.Client

// clientFlags adds --hub and --admin-token to fs.
func clientFlags(fs *flag.FlagSet, c *client) {
	fs.StringVar(&c.BaseURL, "hub", "http://127.0.0.1:8080", "hub base URL")
	fs.StringVar(&c.AdminToken, "admin-token", "", "admin API token")
}

// parseClient parses fs and the environment and checks the client config.
func parseClient(fs *flag.FlagSet, c *client, args []string, lookup func(string) (string, bool)) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := envflag.Apply(fs, envPrefix, lookup); err != nil {
		return err
	}
	if c.AdminToken == "" {
		return errors.New("--admin-token (or STOCKWIRE_ADMIN_TOKEN) is required")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--hub %q must be an http:// or https:// URL", c.BaseURL)
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	c.HTTP = &http.Client{Timeout: 60 * time.Second}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func storesCmd(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	const use = "usage: hub stores add|list|set|revoke [flags]"
	if len(args) == 0 {
		fmt.Fprintln(stderr, use)
		return errors.New("missing stores command")
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
		var out web.CreatedStore
		if err := c.DoJSON(ctx, "POST", "/api/v1/stores", map[string]any{"name": name, "url": u, "policy": policy, "buffer": buffer}, &out); err != nil {
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
		var out web.StoreList
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
		var policy string
		var buffer int64
		alloc := map[string]*int64{}
		fs.StringVar(&policy, "policy", "", "mirror or allocate (moves the store's units)")
		fs.Int64Var(&buffer, "buffer", 0, "units held back from this store (mirror)")
		for _, f := range []struct{ flag, field, help string }{
			{"low-water", "low_water", "allocate: a store holding fewer units of a SKU gets a grant"},
			{"min-grant", "min_grant", "allocate: smallest grant"},
			{"max-grant", "max_grant", "allocate: largest grant"},
			{"cover-seconds", "cover_seconds", "allocate: a grant covers the recent sales rate for this long"},
			{"idle-seconds", "idle_seconds", "allocate: a store idle this long gives units back when others need them"},
		} {
			v := new(int64)
			alloc[f.field] = v
			fs.Int64Var(v, f.flag, 0, f.help)
		}
		fs.Usage = envflag.Usage(fs, envPrefix, "usage: hub stores set [flags] ID\n\nChange a store's policy, buffer or allocate parameters; only the flags given change.")
		if err := parseClient(fs, &c, args[1:], lookup); err != nil {
			return err
		}
		id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if fs.NArg() != 1 || err != nil || id < 1 {
			return errors.New("want one store ID")
		}
		body := map[string]any{}
		allocation := map[string]int64{}
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "policy":
				body["policy"] = policy
			case "buffer":
				body["buffer"] = buffer
			default:
				if v, ok := alloc[strings.ReplaceAll(f.Name, "-", "_")]; ok {
					allocation[strings.ReplaceAll(f.Name, "-", "_")] = *v
				}
			}
		})
		if len(allocation) > 0 {
			body["allocation"] = allocation
		}
		if len(body) == 0 {
			return errors.New("nothing to change: give --policy, --buffer or an allocate parameter")
		}
		var out hub.Store
		if err := c.DoJSON(ctx, "PATCH", "/api/v1/stores/"+strconv.FormatInt(id, 10), body, &out); err != nil {
			return err
		}
		a := out.Allocation
		fmt.Fprintf(stdout, "store %d: policy %s, buffer %d, low water %d, grants %d..%d covering %ds, idle after %ds\n",
			out.ID, out.Policy, out.Buffer, a.LowWater, a.MinGrant, a.MaxGrant, a.CoverSeconds, a.IdleSeconds)
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
	const use = "usage: hub stock set|show|import [flags]"
	if len(args) == 0 {
		fmt.Fprintln(stderr, use)
		return errors.New("missing stock command")
	}
	var c client
	fs := flag.NewFlagSet("hub stock "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	clientFlags(fs, &c)
	switch args[0] {
	case "set":
		var sku, loc string
		var onHand int64
		fs.StringVar(&sku, "sku", "", "SKU")
		fs.StringVar(&loc, "location", "main", "location (warehouse)")
		fs.Int64Var(&onHand, "on-hand", -1, "physical count")
		fs.Usage = envflag.Usage(fs, envPrefix, "usage: hub stock set --sku S --on-hand N [--location L] [flags]\n\nRecord a physical count.")
		if err := parseClient(fs, &c, args[1:], lookup); err != nil {
			return err
		}
		if sku == "" || onHand < 0 {
			return errors.New("--sku and a non-negative --on-hand are required")
		}
		var out hub.SKUStock
		path := "/api/v1/skus/" + url.PathEscape(sku) + "/locations/" + url.PathEscape(loc)
		if err := c.DoJSON(ctx, "PUT", path, map[string]int64{"on_hand": onHand}, &out); err != nil {
			return err
		}
		return printJSON(stdout, out)
	case "show":
		fs.Usage = envflag.Usage(fs, envPrefix, "usage: hub stock show [flags] SKU\n\nShow one SKU's stock, locations and store targets.")
		if err := parseClient(fs, &c, args[1:], lookup); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return errors.New("want one SKU")
		}
		var out hub.SKUStock
		if err := c.DoJSON(ctx, "GET", "/api/v1/skus/"+url.PathEscape(fs.Arg(0)), nil, &out); err != nil {
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
		var out web.ImportResult
		if err := c.Do(ctx, "POST", "/api/v1/stock/import", "text/csv", r, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "imported %d counts\n", out.Imported)
		return nil
	}
	fmt.Fprintln(stderr, use)
	return fmt.Errorf("unknown stock command %q", args[0])
}
