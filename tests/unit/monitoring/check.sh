#!/usr/bin/env bash
# deploy/monitoring/ is valid and speaks about metrics the services export (a ctest, no servers):
#   - promtool check config / check rules, and promtool test rules on alerts_test.yml (the alerts fire
#     on the series they are meant for and stay quiet otherwise);
#   - the Grafana dashboard is JSON with panels and queries;
#   - every iot_* / process_* metric named in the alerts and the dashboard is one that some service's
#     source exports (a renamed metric breaks this test, not a silent alert).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
DIR=$ROOT/deploy/monitoring
command -v promtool >/dev/null || { echo "promtool missing: deploy/install-deps.sh --test installs prometheus" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# check config resolves rule_files relative to the config file: check a copy with the rules beside it.
cp "$DIR/prometheus.yml" "$DIR/alerts.yml" "$TMP/"
promtool check config "$TMP/prometheus.yml"
promtool check rules "$DIR/alerts.yml"
(cd "$DIR" && promtool test rules alerts_test.yml)
python3 - "$ROOT" <<'PY'
import json, pathlib, re, sys
root = pathlib.Path(sys.argv[1])
mon = root / "deploy/monitoring"
dash = json.loads((mon / "grafana-dashboard.json").read_text())
exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
assert dash.get("uid") and dash.get("title"), "dashboard without uid/title"
assert len(exprs) >= 10, f"only {len(exprs)} queries in the dashboard"
text = "\n".join(exprs) + "\n" + (mon / "alerts.yml").read_text()
names = set(re.findall(r"\b((?:iot|process)_[a-z0-9_]+)", text))
names = {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}
sources = "\n".join(p.read_text(errors="replace") for d in ("services", "libs")
                    for p in (root / d).rglob("*.[ch]pp"))
missing = sorted(n for n in names if n not in sources)
assert not missing, f"metrics named in deploy/monitoring but exported by no service: {missing}"
print(f"monitoring: {len(exprs)} dashboard queries, {len(names)} metric names, all exported")
PY
