// Command hub is the stockwire hub: `hub serve` runs the HTTP API and the
// agent link on PostgreSQL (a private cluster under --data-dir when no
// database URL is given); `hub migrate` applies the schema; `hub stores` and
// `hub stock` are clients of a running hub's API; `hub version` prints the
// build. Every flag also reads STOCKWIRE_<FLAG> from the environment.
//
// This package only wires: config, logger, registry, database, services,
// HTTP server, signals and shutdown order.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "hub:", err)
		}
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(1)
	}
}

const usage = `usage: hub <command> [flags]

Commands:
  serve          run the hub (HTTP API, agent link)
  migrate        apply the database schema and exit
  stores add     add a store and print its agent credential
  stores list    list stores with their agent state
  stores set     change a store's policy, buffer, edit location or allocate parameters
  stores revoke  revoke a store and its agent credential
  stock set      record a physical count
  stock show     show one SKU's stock, locations and store targets
  stock import   import counts from a CSV file, all or nothing
  version        print the build

The stores and stock commands are clients of a running hub: they find the
admin token in --admin-token, STOCKWIRE_ADMIN_TOKEN, or the file
<data-dir>/admin-token that "hub serve" writes.

Run "hub <command> --help" for the flags of each.
`

// run dispatches a subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return serve(ctx, rest, stderr, lookup)
	case "migrate":
		return migrate(ctx, rest, stderr, lookup)
	case "stores":
		return storesCmd(ctx, rest, stdout, stderr, lookup)
	case "stock":
		return stockCmd(ctx, rest, stdout, stderr, lookup)
	case "version":
		if len(rest) > 0 && isHelp(rest[0]) {
			fmt.Fprintln(stdout, "usage: hub version\n\nPrint the build: module version, VCS revision and Go version.")
			return nil
		}
		fmt.Fprintln(stdout, version())
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func serve(ctx context.Context, args []string, stderr io.Writer, lookup func(string) (string, bool)) error {
	m := NewMain()
	m.Stderr = stderr
	m.LookupEnv = lookup
	if err := m.ParseFlags(args); err != nil {
		return err
	}
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	// A server that stops on its own ends the process too, with its reason.
	select {
	case <-ctx.Done():
	case <-m.Served():
	}
	err := m.Close()
	return errors.Join(m.ServeErr(), err)
}

func migrate(ctx context.Context, args []string, stderr io.Writer, lookup func(string) (string, bool)) error {
	m := NewMain()
	m.Stderr = stderr
	m.LookupEnv = lookup
	if err := m.parseFlags("migrate", args); err != nil {
		return err
	}
	defer m.Close()
	return m.Migrate(ctx)
}
