package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stockwire/stockwire/shared/benchenv"
	"github.com/stockwire/stockwire/shared/procstat"
	"github.com/stockwire/stockwire/shared/scrape"
)

// Report holds every figure of a run.
type Report struct {
	Propagation []PropagationResult
	Fanout      *FanoutResult
	FlashSales  []FlashSaleResult
}

// Run builds the binaries, starts PostgreSQL, runs the configured
// scenarios and prints each one's figures to out as it ends, progress to
// progress. Everything it started is stopped, and its temporary directory
// removed, before it returns, also when ctx is cancelled.
//
// When a scenario fails (not cancelled), a temporary work directory is kept
// for its logs.
func Run(ctx context.Context, cfg Config, out, progress io.Writer) (rep *Report, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, out: out, progress: progress}
	defer func() { b.close(err != nil && ctx.Err() == nil) }()
	if err := b.open(ctx); err != nil {
		return nil, err
	}
	b.printHeader(ctx)

	rep = &Report{}
	if cfg.runs(ScenarioPropagation) {
		b.printPropagationHeader()
		for _, fl := range cfg.Fleets {
			r, err := b.propagation(ctx, fl)
			if err != nil {
				return rep, fmt.Errorf("propagation, fleet %s: %w", fl, err)
			}
			rep.Propagation = append(rep.Propagation, r)
			b.printPropagation(r)
		}
	}
	if cfg.runs(ScenarioFanout) {
		r, err := b.fanout(ctx)
		if err != nil {
			return rep, fmt.Errorf("fanout: %w", err)
		}
		rep.Fanout = &r
		b.printFanout(r)
	}
	if cfg.runs(ScenarioFlashSale) {
		rs, err := b.flashSale(ctx)
		rep.FlashSales = rs
		b.printFlashSales(rs)
		if err != nil {
			return rep, fmt.Errorf("flashsale: %w", err)
		}
	}
	return rep, nil
}

// bench is one run's environment: work directory, binaries and the
// PostgreSQL cluster every hub's database lives in.
type bench struct {
	cfg      Config
	out      io.Writer
	progress io.Writer

	env  *benchenv.Env
	hubs int // hubs started so far, for unique names
}

func (b *bench) open(ctx context.Context) error {
	if err := raiseFileLimit(); err != nil {
		return err
	}
	env, err := benchenv.Open(ctx, benchenv.Options{Name: "linkbench", Dir: b.cfg.WorkDir, BinDir: b.cfg.BinDir,
		ModuleDir: b.cfg.ModuleDir, Fsync: b.cfg.Fsync, Logf: b.logf})
	if err != nil {
		return err
	}
	b.env = env
	if b.cfg.ProfileDir != "" {
		if err := os.MkdirAll(b.cfg.ProfileDir, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// close stops PostgreSQL and removes a temporary work directory, unless
// asked to keep it or keepLogs.
func (b *bench) close(keepLogs bool) {
	if b.env != nil {
		b.env.Close(b.cfg.Keep || keepLogs)
	}
}

// path joins elements under the work directory.
func (b *bench) path(elem ...string) string { return b.env.Path(elem...) }

func (b *bench) binary(name string) string { return b.env.Bin(name) }

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, "%s linkbench: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// raiseFileLimit lifts the soft limit on open files to the hard one: the
// load tool holds a socket per session, and the hub (which inherits the
// limit) as many.
func raiseFileLimit() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("read open files limit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("raise open files limit: %w", err)
		}
	}
	return nil
}

// postgresVersion asks the cluster for its version.
func (b *bench) postgresVersion(ctx context.Context) string {
	db, err := sql.Open("postgres", b.env.Cluster.DSN("postgres"))
	if err != nil {
		return "?"
	}
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "?"
	}
	return v
}

// Phase is what a measured phase cost.
type Phase struct {
	Elapsed time.Duration
	// HubCPU, PostgresCPU (all backends), AgentsCPU (all agents together)
	// and BenchCPU (this process: the simulated stores and the load tool)
	// are CPU time used.
	HubCPU, PostgresCPU, AgentsCPU, BenchCPU time.Duration
	// AgentsSwitches are the agents' context switches (all their threads,
	// all agents together): their wake-ups.
	AgentsSwitches int64
	// MachineBusy is the share of all cores' time spent busy, other work on
	// the machine included.
	MachineBusy float64
	// DB is the hub's database time by operation, most first.
	DB []OpCost
	// Profile is the top of a perf profile of the whole machine, when
	// Config.ProfileDir is set.
	Profile []string
}

// OpCost is the time the hub spent in one kind of database operation.
type OpCost struct {
	Op    string
	Calls int
	Total time.Duration
}

// measure runs fn and records into ph what it cost the hub, the agents
// (agentPIDs) and this process.
func (b *bench) measure(ctx context.Context, h *hubProc, name string, agentPIDs []int, ph *Phase, fn func() error) error {
	before, err := h.metrics(ctx)
	if err != nil {
		return err
	}
	pgPID, err := procstat.PostmasterPID(b.env.Cluster.Dir)
	if err != nil {
		return err
	}
	c0, err := readCosts(h.pid(), pgPID, agentPIDs)
	if err != nil {
		return err
	}
	stopProfile, err := b.startProfile(name, h.pid(), pgPID)
	if err != nil {
		return err
	}
	start := time.Now()
	err = fn()
	ph.Elapsed = time.Since(start)
	ph.Profile = stopProfile()
	if err != nil {
		return err
	}
	c1, err := readCosts(h.pid(), pgPID, agentPIDs)
	if err != nil {
		return err
	}
	ph.HubCPU, ph.PostgresCPU = c1.hub-c0.hub, c1.postgres-c0.postgres
	ph.AgentsCPU, ph.BenchCPU = c1.agents-c0.agents, c1.bench-c0.bench
	ph.AgentsSwitches = c1.agentSwitches - c0.agentSwitches
	ph.MachineBusy = procstat.Busy(c0.machine, c1.machine)
	after, err := h.metrics(ctx)
	if err != nil {
		return err
	}
	ph.DB = dbCosts(before, after)
	return nil
}

// costs are cumulative CPU times (and the agents' context switches) at
// one moment.
type costs struct {
	hub, postgres, agents, bench time.Duration
	agentSwitches                int64
	machine                      procstat.MachineTicks
}

func readCosts(hubPID, pgPID int, agentPIDs []int) (costs, error) {
	var c costs
	var err error
	if c.hub, err = procstat.ReadCPU(hubPID); err != nil {
		return c, err
	}
	if c.postgres, err = procstat.ReadTreeCPU(pgPID); err != nil {
		return c, err
	}
	for _, pid := range agentPIDs {
		a, err := procstat.ReadCPU(pid)
		if err != nil {
			return c, err
		}
		c.agents += a
		n, err := procstat.ReadSwitches(pid)
		if err != nil {
			return c, err
		}
		c.agentSwitches += n
	}
	if c.bench, err = procstat.ReadCPU(os.Getpid()); err != nil {
		return c, err
	}
	c.machine, err = procstat.ReadMachineCPU()
	return c, err
}

const dbQueryDuration = "stockwire_hub_db_query_duration_seconds"

// dbCosts returns the database time per operation between two scrapes.
func dbCosts(before, after scrape.Page) []OpCost {
	var out []OpCost
	for _, op := range after.LabelValues(dbQueryDuration, "op") {
		calls := int(after.Count(dbQueryDuration, "op", op) - before.Count(dbQueryDuration, "op", op))
		if calls == 0 {
			continue
		}
		took, _ := after.Sum(dbQueryDuration, "op", op)
		was, _ := before.Sum(dbQueryDuration, "op", op)
		out = append(out, OpCost{Op: op, Calls: calls, Total: time.Duration((took - was) * float64(time.Second))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Total > out[j].Total })
	return out
}

// startProfile records a perf CPU profile of the whole machine until the
// returned function is called; that function returns the top of the
// report: CPU by command, then the hottest functions of the hub process, of
// PostgreSQL (pgPID and its children) and of this process. Without Config.ProfileDir it does
// nothing.
func (b *bench) startProfile(name string, hubPID, pgPID int) (stop func() []string, err error) {
	if b.cfg.ProfileDir == "" {
		return func() []string { return nil }, nil
	}
	data := filepath.Join(b.cfg.ProfileDir, name+".perf.data")
	rec := exec.Command("perf", "record", "-F", "499", "-a", "-o", data)
	log, err := os.Create(filepath.Join(b.cfg.ProfileDir, name+".perf.log"))
	if err != nil {
		return nil, err
	}
	rec.Stdout, rec.Stderr = log, log
	if err := rec.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("perf record (is perf installed?): %w", err)
	}
	return func() []string {
		defer log.Close()
		rec.Process.Signal(os.Interrupt)
		// perf ends by the interrupt, which Wait reports as an error: the
		// data file tells whether it recorded.
		werr := rec.Wait()
		if st, err := os.Stat(data); err != nil || st.Size() == 0 {
			b.logf("perf record %s: %v (see %s)", name, werr, log.Name())
			return nil
		}
		pgPIDs := []string{strconv.Itoa(pgPID)}
		for _, pid := range procstat.ChildPIDs(pgPID) {
			pgPIDs = append(pgPIDs, strconv.Itoa(pid))
		}
		var top []string
		for _, view := range []struct {
			title string
			args  []string
			lines int
		}{
			{"whole machine, by command", []string{"--sort", "comm"}, 8},
			{"hub process, by function", []string{"--pid", strconv.Itoa(hubPID), "--sort", "dso,symbol"}, 12},
			{"PostgreSQL, by function", []string{"--pid", strings.Join(pgPIDs, ","), "--sort", "dso,symbol"}, 8},
			{"linkbench (stores, load tool), by function", []string{"--pid", strconv.Itoa(os.Getpid()), "--sort", "dso,symbol"}, 8},
		} {
			args := append([]string{"report", "-i", data, "--stdio", "--percentage", "relative"}, view.args...)
			out, err := exec.Command("perf", args...).Output()
			if err != nil {
				b.logf("perf report %s: %v", name, err)
				return top
			}
			top = append(top, view.title+":")
			n := 0
			for line := range strings.SplitSeq(string(out), "\n") {
				line = strings.Join(strings.Fields(strings.TrimSuffix(strings.TrimSpace(line), "-      -")), " ")
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				if n++; n > view.lines {
					break
				}
				top = append(top, "  "+line)
			}
		}
		return top
	}, nil
}
