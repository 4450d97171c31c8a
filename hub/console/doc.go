// Package console is the hub's operator console: server-rendered HTML
// pages at the hub's root (/ overview, /stores, /skus, /orders,
// /problems) for a person with the admin token.
//
// Logging in with the admin token starts a session: a random id in an
// HttpOnly, SameSite=Strict cookie (Secure over TLS), of which the hub's
// database keeps only a hash (hub.ConsoleSessionService), so any replica
// serves it. A session ends on logout, after IdleTimeout without a page
// (an open page that follows changes loads itself again, so it counts)
// and MaxAge after login, however busy, and when the admin token changes. Every form carries a CSRF token derived from the
// session id, and a POST whose Origin or Sec-Fetch-Site names another
// site is refused. Failed logins count against the client address with
// the API's own authentications (FailureLimiter).
//
// Pages update themselves without a reload: /events is a Server-Sent
// Events stream that says "change" whenever stock, orders, commands or
// stores change (hub.ConsoleQueries.ChangeMark, looked at when Notify is
// called — the hub calls it on every PostgreSQL stock notification — and
// every PollInterval), and console.js then fetches the page again and
// swaps its main part in. The stream ends when the client goes or Close is
// called.
//
// It reads and changes through the hub's service interfaces only; storage
// is hub/postgres's and the JSON API hub/web's, which mounts these routes
// beside its own (Register).
package console
