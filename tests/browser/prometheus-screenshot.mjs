// Screenshot of Prometheus' graph page for the README (docs/screenshots/prometheus-graph.png): Debian's
// chromium (headless) via playwright-core, as the console test does. Not a test; run by hand against a
// Prometheus that scrapes a running platform (e.g. `docker compose --profile monitoring up -d` with traffic):
//   node tests/browser/prometheus-screenshot.mjs http://127.0.0.1:9090 docs/screenshots/prometheus-graph.png
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '../../web/package.json'));
const { chromium } = require('playwright-core');

const [base, out] = process.argv.slice(2);
if (!base || !out) throw new Error('usage: prometheus-screenshot.mjs <prometheus url> <png>');
const expr = process.env.IOT_PROMETHEUS_EXPR ||
  'sum by (instance) (rate(iot_gateway_committed_messages_total[1m]))';
const range = process.env.IOT_PROMETHEUS_RANGE || '15m';
const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'iot-chromium-')), {
  executablePath: process.env.IOT_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  viewport: { width: 1440, height: 900 },
});
const page = context.pages()[0] ?? (await context.newPage());
const params = new URLSearchParams({ 'g0.expr': expr, 'g0.tab': '0', 'g0.range_input': range });
await page.goto(`${base}/graph?${params}`, { waitUntil: 'networkidle', timeout: 60000 });
await page.waitForTimeout(3000);  // the graph draws after the query returns
await page.screenshot({ path: out, fullPage: false });
await context.close();
console.log(`screenshot: ${out}`);
