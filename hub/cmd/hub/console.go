package main

import (
	"github.com/stockwire/stockwire/hub/console"
	"github.com/stockwire/stockwire/hub/postgres"
)

// mountConsole builds the operator console (hub/console) on the hub's
// services and mounts it at the web server's root. Run closes it before
// the HTTP shutdown, which would otherwise wait for its event streams.
func (m *Main) mountConsole() {
	c := console.New(m.Logger.With("component", "console"))
	svc := postgres.NewConsoleService(m.DB)
	c.Admin, c.Sessions, c.Queries = m.Admin, svc, svc
	c.Stores, c.Inventory, c.Orders, c.Allocation, c.Webhooks = m.Stores, m.Inventory, m.Orders, m.Allocation, m.Webhooks
	c.Limiter = m.Web.AuthFailures()
	c.Register(m.Web.Mount)
	m.Console = c
}
