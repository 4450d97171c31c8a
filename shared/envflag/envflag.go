// Package envflag lets every command-line flag fall back to an environment
// variable: flag "consumer-secret" reads STOCKWIRE_CONSUMER_SECRET when it is
// not given on the command line, so secrets can stay off the command line.
package envflag

import (
	"flag"
	"fmt"
	"strings"
)

// Name returns the environment variable for a flag name.
func Name(prefix, flagName string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Apply sets, from lookup (os.LookupEnv), every flag of fs that was not set
// on the command line. Call it after fs.Parse.
func Apply(fs *flag.FlagSet, prefix string, lookup func(string) (string, bool)) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		name := Name(prefix, f.Name)
		if v, ok := lookup(name); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment %s: %w", name, e)
			}
		}
	})
	return err
}

// Usage returns a flag set's usage function that names each flag's
// environment variable.
func Usage(fs *flag.FlagSet, prefix, synopsis string) func() {
	return func() {
		out := fs.Output()
		fmt.Fprintf(out, "%s\n\nFlags (each also from the environment variable shown):\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(out, "  --%s  [%s]\n      %s%s\n", f.Name, Name(prefix, f.Name), f.Usage, def)
		})
	}
}
