package envflag_test

import (
	"flag"
	"io"
	"testing"

	"github.com/stockwire/stockwire/shared/envflag"
)

func TestApply(t *testing.T) {
	env := map[string]string{
		"STOCKWIRE_CONSUMER_SECRET": "cs_env",
		"STOCKWIRE_LISTEN":          "127.0.0.1:1",
		"STOCKWIRE_POLL_INTERVAL":   "bad",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	secret := fs.String("consumer-secret", "", "")
	listen := fs.String("listen", "127.0.0.1:8090", "")
	if err := fs.Parse([]string{"--listen", "127.0.0.1:2"}); err != nil {
		t.Fatal(err)
	}
	if err := envflag.Apply(fs, "STOCKWIRE_", lookup); err != nil {
		t.Fatal(err)
	}
	if got, want := *secret, "cs_env"; got != want {
		t.Errorf("consumer-secret = %q, want %q from env", got, want)
	}
	if got, want := *listen, "127.0.0.1:2"; got != want {
		t.Errorf("listen = %q, want the command line's %q", got, want)
	}

	fs2 := flag.NewFlagSet("t", flag.ContinueOnError)
	fs2.Duration("poll-interval", 0, "")
	_ = fs2.Parse(nil)
	if err := envflag.Apply(fs2, "STOCKWIRE_", lookup); err == nil {
		t.Fatal("bad duration in the environment was accepted")
	}
}
