package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/stockwire/stockwire/agent/outbox"
	"github.com/stockwire/stockwire/shared/envflag"
)

// deadLettersCommand runs `agent dead-letters list|replay`: it lists the
// order reports the hub refused, parked in the outbox, or moves them back
// into the outbox for the agent to send again. The outbox file is locked by
// a running agent, so the agent must be stopped first.
func deadLettersCommand(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("agent dead-letters", flag.ContinueOnError)
	dataDir := DefaultConfig().DataDir
	fs.StringVar(&dataDir, "data-dir", dataDir, "the agent's data directory")
	fs.Usage = envflag.Usage(fs, "STOCKWIRE_", "agent dead-letters: the order reports the hub refused for good\n\n"+
		"Usage: agent dead-letters list|replay [--data-dir DIR]\n\n"+
		"  list    print them, oldest first, with the hub's reason\n"+
		"  replay  move them back into the outbox; the agent sends them again at its next start\n\n"+
		"Stop the agent first: it holds the outbox file.")
	if len(args) == 0 {
		fs.Usage()
		return errors.New("dead-letters: want list or replay")
	}
	if h := args[0]; h == "-h" || h == "-help" || h == "--help" || h == "help" {
		fs.SetOutput(stdout)
		fs.Usage()
		return flag.ErrHelp
	}
	action := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := envflag.Apply(fs, "STOCKWIRE_", os.LookupEnv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("dead-letters: unexpected argument %q", fs.Arg(0))
	}
	if action != "list" && action != "replay" {
		return fmt.Errorf("dead-letters %q: want list or replay", action)
	}
	path := filepath.Join(dataDir, "outbox.db")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("dead-letters: no outbox in --data-dir %s: %w", dataDir, err)
	}
	ob, err := outbox.Open(path, outbox.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("dead-letters (is the agent still running? stop it first): %w", err)
	}
	defer ob.Close()
	if action == "replay" {
		n, err := ob.Replay()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d dead letters moved back into the outbox; the agent sends them at its next start\n", n)
		return nil
	}
	dead, err := ob.DeadLetters()
	if err != nil {
		return err
	}
	for _, dl := range dead {
		parked := dl.ParkedAt.UTC().Format(time.RFC3339)
		if e := dl.Event.Edit; e != nil {
			fmt.Fprintf(stdout, "store edit %s\t%d → %d\tedited %s\tparked %s\treason: %s\n",
				e.SKU, e.From, e.To, e.EditedAt.UTC().Format(time.RFC3339), parked, dl.Reason)
			continue
		}
		o := dl.Event.Order
		fmt.Fprintf(stdout, "order %d\tstatus %s\tmodified %s\tparked %s\treason: %s\n",
			o.WooOrderID, o.Status, o.DateModified.UTC().Format(time.RFC3339), parked, dl.Reason)
	}
	fmt.Fprintf(stdout, "%d dead letters\n", len(dead))
	return nil
}
