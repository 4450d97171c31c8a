package main

import (
	"bytes"
	"errors"
	"flag"
	"regexp"
	"strings"
	"testing"
)

// TestRun_HelpEveryCommand: every command `hub --help` lists answers
// --help with its usage and exit status 0 (nil or flag.ErrHelp), and each
// command group's own help lists the same subcommands.
func TestRun_HelpEveryCommand(t *testing.T) {
	t.Parallel()
	var top bytes.Buffer
	if err := run(t.Context(), []string{"--help"}, &top, &top, env(nil)); err != nil {
		t.Fatal(err)
	}
	listed := regexp.MustCompile(`(?m)^  ([a-z]+(?: [a-z]+)?)  +\S`).FindAllStringSubmatch(top.String(), -1)
	if len(listed) < 10 {
		t.Fatalf("hub --help lists %d commands, want every one:\n%s", len(listed), top.String())
	}
	for _, l := range listed {
		cmd := strings.Fields(l[1])
		t.Run(strings.Join(cmd, "_"), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(t.Context(), append(cmd, "--help"), &out, &errOut, env(nil))
			if err != nil && !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("hub %s --help: %v\n%s", l[1], err, errOut.String())
			}
			if help := out.String() + errOut.String(); !strings.Contains(help, "usage: hub "+cmd[0]) {
				t.Fatalf("hub %s --help printed no usage:\n%s", l[1], help)
			}
			if len(cmd) == 2 {
				var group bytes.Buffer
				if err := run(t.Context(), []string{cmd[0], "--help"}, &group, &group, env(nil)); err != nil {
					t.Fatal(err)
				}
				if !regexp.MustCompile(`(?m)^  ` + cmd[1] + ` `).MatchString(group.String()) {
					t.Fatalf("hub %s --help does not list %s:\n%s", cmd[0], cmd[1], group.String())
				}
			}
		})
	}
}
