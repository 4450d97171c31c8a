// Package dashboards holds stockwire's operations artefacts, which are not Go
// code: the Grafana dashboard (stockwire.json), the Prometheus alerting rules
// (alerts.yml), an example Prometheus configuration (prometheus.yml) and the
// Grafana provisioning files compose.yaml mounts (grafana/). README.md says
// how to use each and what to do when an alert fires.
//
// Its tests keep the artefacts honest: promtool checks the rules and the
// configuration; a real Prometheus scrapes a real hub (on a private
// PostgreSQL cluster) and agent (against a woosim store) until every metric
// the dashboard and the rules use has a series, and alerts are seen firing
// when the agent and then the hub are killed; headless Chromium renders the
// hub's /status page. Missing prometheus, promtool or chromium fails the
// tests with the command that installs them (.ci/ensure-packages); they
// never skip.
package dashboards
