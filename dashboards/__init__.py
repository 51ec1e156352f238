"""Grafana dashboards as code: generated from the site config (sensors, areas, thresholds) into
Grafana JSON kept in the repository, the provisioning files that the deployment's Grafana mounts,
and the push to a running Grafana through its HTTP API."""
