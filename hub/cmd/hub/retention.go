package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// retention is the --retain-personal-data value: a Go duration or a whole
// number of days ("90d"); zero keeps personal data.
type retention time.Duration

func (r *retention) String() string {
	d := time.Duration(*r)
	switch {
	case d == 0:
		return ""
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

func (r *retention) Set(s string) error {
	if s == "" {
		*r = 0
		return nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 || n > 100*365 {
			return fmt.Errorf("%q is not a number of days", s)
		}
		*r = retention(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is neither a number of days (90d) nor a duration (2160h)", s)
	}
	*r = retention(d)
	return nil
}

// startRetention erases, every RetentionInterval and once at start, the
// personal data of orders older than RetainPersonalData, until Close.
// Every replica may run it: the erasure is idempotent and skips rows
// others hold.
func (m *Main) startRetention(ctx context.Context) {
	keep := m.Config.RetainPersonalData
	if keep <= 0 {
		return
	}
	m.Logger.Info("personal data retention on", "retain", (*retention)(&keep).String())
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		m.erasePersonalData(lctx, keep)
		every(lctx, m.Config.RetentionInterval, func(ctx context.Context) { m.erasePersonalData(ctx, keep) })
	})
	m.onClose(func() error {
		cancel()
		wg.Wait()
		return nil
	})
}

func (m *Main) erasePersonalData(ctx context.Context, keep time.Duration) {
	n, err := m.Orders.ErasePersonalData(ctx, time.Now().Add(-keep))
	switch {
	case err != nil && !errors.Is(err, context.Canceled):
		m.Logger.Warn("erase personal data of old orders", "error", err)
	case n > 0:
		m.Logger.Info("erased personal data of old orders", "orders", n)
	}
}
