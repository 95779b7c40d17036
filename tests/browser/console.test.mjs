// Browser test of the web console: Debian's chromium (headless) driven by playwright-core against the
// real stack (PostgreSQL, Mosquitto + plugin, iot-gateway, iot-api) that tests/integration/console starts,
// with a simulated MQTT device (device.mjs). Each step is reported; steps after a failed one still run
// where they can (the page is reloaded so that a missing live update does not block the rest).
//
// Environment: IOT_CONSOLE_URL (http://127.0.0.1:PORT), IOT_CONSOLE_TOKEN (admin token),
// IOT_CONSOLE_MQTT_URL (mqtt://127.0.0.1:PORT), IOT_SCREENSHOT_DIR (where the PNGs go), IOT_CHROMIUM
// (default /usr/bin/chromium), IOT_FIXTURES_DIR (tests/fixtures), IOT_FIREFOX (also check Firefox, e.g.
// /usr/bin/firefox-esr: see firefox.mjs), IOT_CONSOLE_HOLD_S (keep the stack up afterwards).
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Device } from './device.mjs';
import { firefoxCheck } from './firefox.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '../../web/package.json'));
const { chromium } = require('playwright-core');
const mqtt = require('mqtt');
const WebSocket = require('ws');

const BASE = need('IOT_CONSOLE_URL');
const TOKEN = need('IOT_CONSOLE_TOKEN');
const MQTT_URL = need('IOT_CONSOLE_MQTT_URL');
const SHOTS = process.env.IOT_SCREENSHOT_DIR || join(tmpdir(), 'iot-console-screenshots');
const FIXTURES = process.env.IOT_FIXTURES_DIR || join(here, '../fixtures');
const PK = 'consoleLamp01';
const DN = 'lamp-0001';
const LIVE_MS = 5000; // how long a live update may take to show (the contract says 1 s)

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`console.test: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const results = [];
const log = (text) => console.log(`[${new Date().toISOString().slice(11, 23)}] ${text}`);

// Runs one step; on failure records it, runs `recover` (e.g. a reload) and goes on.
async function step(name, fn, recover) {
  const started = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    log(`ok    ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    // The first line that says something (a playwright message may start with a blank line).
    const why = String(e?.message ?? e).split('\n').map((l) => l.trim()).filter(Boolean).slice(0, 2).join(' | ');
    results.push({ name, ok: false, why });
    log(`FAIL  ${name}: ${String(e?.stack ?? e)}`);
    if (recover) await recover().catch((r) => log(`      recovery failed: ${r}`));
  }
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

const userDataDir = mkdtempSync(join(tmpdir(), 'iot-chromium-'));
mkdirSync(SHOTS, { recursive: true });
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.IOT_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1440, height: 900 },
  timeout: 60000,
});
const external = [];
const pageErrors = [];
const origin = new URL(BASE).origin;
const wsOrigin = origin.replace(/^http/, 'ws');
context.on('request', (r) => {
  const url = r.url();
  if (!url.startsWith(origin) && !url.startsWith(wsOrigin) && !url.startsWith('data:')) external.push(url);
});
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(10000);
page.on('pageerror', (e) => pageErrors.push(String(e)));
page.on('console', (m) => m.type() === 'error' && !/WebSocket|Failed to load resource/.test(m.text()) && pageErrors.push(m.text()));
page.on('dialog', (d) => d.accept());
const shot = (name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
const reload = async () => {
  await page.reload();
  await page.waitForLoadState('domcontentloaded');
};

const device = new Device(mqtt, { url: MQTT_URL, productKey: PK, deviceName: DN, deviceSecret: '', log });
const tslDoc = JSON.parse(readFileSync(join(FIXTURES, 'tsl/valid/reference_example.json'), 'utf8'));
tslDoc.profile.productKey = PK;
const badDoc = JSON.parse(readFileSync(join(FIXTURES, 'tsl/invalid/bad_specs.json'), 'utf8'));
badDoc.document.profile.productKey = PK;

try {
  await step('a wrong token is refused', async () => {
    await page.goto(BASE + '/');
    await page.getByLabel('Token').fill('not-a-token-0000000000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('login-error').waitFor();
  });

  await step('sign in with the admin token', async () => {
    await page.getByLabel('Token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Products' }).waitFor();
    expect((await page.evaluate(() => sessionStorage.getItem('iot.token'))) === TOKEN, 'token not kept in sessionStorage');
  });

  await step('create a product', async () => {
    await page.getByTestId('new-product').click();
    const dialog = page.getByTestId('create-product');
    await dialog.getByLabel('Name').fill('Console lamp');
    await dialog.getByLabel('Product key').fill(PK);
    await dialog.getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(`**/products/${PK}/model`);
    await page.getByRole('heading', { name: /Console lamp/ }).waitFor();
  });

  await step('an invalid TSL import shows every error at its line', async () => {
    await page.getByTestId('edit-model').click();
    await page.getByTestId('tsl-file').setInputFiles({ name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(badDoc.document)) });
    await page.getByTestId('save-draft').click();
    await page.getByTestId('tsl-errors').waitFor();
    const items = await page.getByTestId('tsl-error').allInnerTexts();
    const expected = new Set(badDoc.expected.map((e) => (typeof e === 'string' ? e : e.path ?? e.pointer)));
    expect(items.length >= expected.size, `${items.length} errors shown, the fixture expects ${expected.size} pointers`);
    const text = await page.getByLabel('TSL JSON').inputValue();
    const lines = text.split('\n');
    for (const item of items) {
      const m = item.match(/^line (\d+)\s+(\S+)/);
      expect(m, `error without a line: ${item}`);
      const [, line, pointer] = m;
      const parts = pointer.split('/').slice(1);
      const last = parts[parts.length - 1];
      const at = lines[Number(line) - 1] ?? '';
      let node = badDoc.document;
      for (const p of parts) node = node === undefined || node === null ? undefined : node[p];
      // The line holds the member the pointer names (an array element: its opening); a missing member
      // is shown at the object that lacks it.
      const ok = node === undefined ? /^\s*("[^"]*":\s*)?[{\[]/.test(at) : /^\d+$/.test(last) ? /[{\["\d-]/.test(at) : at.includes(`"${last}"`);
      expect(ok, `${pointer} placed at line ${line}: ${at.trim()}`);
    }
    for (const p of expected) expect(items.some((i) => i.includes(` ${p} `) || i.includes(` ${p}\n`) || i.split(/\s+/)[2] === p), `no error shown for ${p}`);
    expect((await page.locator('.gutter .err').count()) > 0, 'no error line marked in the gutter');
    await page.getByTestId('tsl-error').nth(2).click(); // selects that line in the editor
    await page.getByTestId('draft-editor').scrollIntoViewIfNeeded();
    await shot('tsl-errors');
  });

  await step('import the TSL with every type and save the draft', async () => {
    await page.getByTestId('tsl-file').setInputFiles({ name: 'model.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(tslDoc)) });
    await page.getByTestId('save-draft').click();
    await page.getByTestId('draft-saved').waitFor();
    await page.getByRole('button', { name: 'Close' }).click();
    await page.getByTestId('prop-Position').waitFor();
    const range = await page.getByTestId('prop-TargetTemp').innerText();
    expect(range.includes('5 … 35') && range.includes('°C'), `TargetTemp row: ${range}`);
    for (const id of ['PowerOn', 'Humidity', 'FanLevel', 'RunCount', 'Label', 'LastService', 'Position', 'Samples', 'Zones'])
      await page.getByTestId(`prop-${id}`).waitFor();
    await page.getByTestId('service-SelfTest').waitFor();
    await page.getByTestId('event-Fault').waitFor();
  });

  await step('publish and browse the version', async () => {
    await page.getByLabel('Version description').fill('first model');
    await page.getByTestId('publish').click();
    await page.getByTestId('published').waitFor();
    await page.getByTestId('versions').getByText('first model').waitFor();
    await page.getByTestId('version-select').selectOption('1');
    await page.getByTestId('prop-Zones').waitFor();
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot('thing-model');
  });

  await step('register a device and see its secret once', async () => {
    await page.getByTestId('tab-devices').click();
    await page.getByTestId('register').click();
    const dialog = page.getByTestId('register-device');
    await dialog.getByLabel('Device name').fill(DN);
    await dialog.getByLabel('Nickname').fill('hall lamp');
    await dialog.getByRole('button', { name: 'Register' }).click();
    device.secret = (await page.getByTestId('new-device-secret').innerText()).trim();
    expect(/^[0-9A-Za-z]{16,}$/.test(device.secret), `secret looks wrong: ${device.secret}`);
    await page.getByTestId('secret-done').click();
    await page.getByTestId(`device-${DN}`).getByText('unactive').waitFor();
    // A second device to disable and delete.
    await page.getByTestId('register').click();
    await page.getByTestId('register-device').getByLabel('Device name').fill('spare-0001');
    await page.getByTestId('register-device').getByRole('button', { name: 'Register' }).click();
    await page.getByTestId('secret-done').click();
    await page.getByTestId('device-spare-0001').waitFor();
  });

  await step('the device list filters by status and name', async () => {
    await page.getByTestId('device-search').fill('spare');
    await page.getByTestId(`device-${DN}`).waitFor({ state: 'detached' });
    await page.getByTestId('device-search').fill('');
    await page.getByTestId(`device-${DN}`).waitFor();
  });

  await step('import devices with their secrets from CSV and export the credentials', async () => {
    await page.getByTestId('import-devices').click();
    const dialog = page.getByTestId('import-dialog');
    // A bad file first: every problem is listed by line, nothing is imported.
    await dialog.getByTestId('import-text').fill('DeviceName,DeviceSecret\nx,short\n');
    await dialog.getByTestId('import-submit').click();
    await dialog.getByTestId('import-problems').getByText('line 2').first().waitFor();
    const csv = 'deviceName,deviceSecret,nickname\nimported-0001,0123456789abcdef0123456789abcdef,From CSV\n' +
      'imported-0002,0123456789abcdef0123456789abcdeF,\n';
    await dialog.getByTestId('import-file').setInputFiles({ name: 'fleet.csv', mimeType: 'text/csv', buffer: Buffer.from('\ufeff' + csv) });
    await dialog.getByTestId('import-submit').click();
    await dialog.getByTestId('import-done').getByText('2 devices imported').waitFor();
    await dialog.getByTestId('import-close').click(); // (the × in the title is also a button named Close)
    await dialog.waitFor({ state: 'detached' });
    await page.getByTestId('device-imported-0001').getByText('From CSV').waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-devices').click()]);
    const path = await download.path();
    const text = (await import('node:fs')).readFileSync(path, 'utf8');
    expect(text.startsWith('DeviceName,DeviceSecret,Nickname,IotId,ProductKey'), `export header: ${text.slice(0, 80)}`);
    expect(text.includes('imported-0001,0123456789abcdef0123456789abcdef,From CSV,'), 'export lacks the imported secret');
  });

  await step('dynamic registration: switch, productSecret shown on demand, rotation', async () => {
    const box = page.getByTestId('registration');
    expect(!(await box.getByTestId('dynamic-registration').isChecked()), 'dynamic registration on by default');
    const [patched] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/products/${PK}`) && r.request().method() === 'PATCH'),
      box.getByTestId('dynamic-registration').check(),
    ]);
    expect(patched.status() === 200, `PATCH answered ${patched.status()}`);
    await box.getByTestId('show-product-secret').click();
    const before = (await box.getByTestId('product-secret').innerText()).trim();
    expect(/^[A-Za-z0-9]{16}$/.test(before), `productSecret shown as ${before}`);
    await box.getByTestId('rotate-product-secret').click();
    await page.waitForFunction((old) => document.querySelector('[data-testid=product-secret]')?.textContent?.trim() !== old, before);
    await shot('registration');
  });

  await step('remote config: switch on, save versions (a malformed one refused), list, push', async () => {
    const here = page.url();
    await page.goto(`${BASE}/products/${PK}/config`);
    const tab = page.getByTestId('remote-config');
    await tab.waitFor();
    const toggle = tab.getByTestId('remote-config-switch');
    expect(!(await toggle.isChecked()), 'remote config on by default');
    const [patched] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/products/${PK}`) && r.request().method() === 'PATCH'),
      toggle.check(),
    ]);
    expect(patched.status() === 200, `PATCH answered ${patched.status()}`);
    const editor = tab.getByTestId('config-editor').locator('textarea');
    // Waits for the editor to hold `text` before Save, and after a saved version for the page to show it
    // (its reload sets the editor to the stored file, which would overwrite text typed meanwhile).
    const save = async (text, version) => {
      await editor.fill(text);
      await tab.getByText(`${Buffer.byteLength(text)} / 65536 bytes`).waitFor();
      const [put] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith(`/products/${PK}/config`) && r.request().method() === 'PUT'),
        tab.getByTestId('config-save').click(),
      ]);
      if (version) await tab.getByTestId('config-current').filter({ hasText: `current v${version}` }).waitFor();
      return put.status();
    };
    expect((await save('{\n  "interval": 30\n}', 1)) === 200, 'first version not saved');
    expect((await save('{"interval": ')) === 400, 'malformed JSON not refused');
    expect((await save('{"interval": 60}', 2)) === 200, 'second version not saved');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=config-versions] tbody tr').length === 2);
    await tab.getByTestId('config-current').filter({ hasText: 'current v2' }).waitFor();
    const [pushed] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/products/${PK}/config:push`)),
      tab.getByTestId('config-push').click(),
    ]);
    expect(pushed.status() === 202, `push answered ${pushed.status()}`);
    await tab.getByTestId('config-notice').filter({ hasText: 'pushed to 0 online' }).waitFor();
    await shot('remote-config');
    await page.goto(here);
  });

  await step('an unknown URL shows a not-found page', async () => {
    const here = page.url();
    await page.goto(BASE + '/no/such/page');
    await page.getByTestId('not-found').waitFor();
    await page.goto(here);
    await page.getByTestId(`device-${DN}`).waitFor();
  });

  await step('disable and delete a device', async () => {
    const row = page.getByTestId('device-spare-0001');
    await row.getByTestId('toggle-enabled').click();
    await row.getByText('disabled').waitFor();
    await page.getByTestId('status-filter').selectOption('disabled');
    await page.getByTestId(`device-${DN}`).waitFor({ state: 'detached' });
    await page.getByTestId('device-spare-0001').getByTestId('delete-device').click();
    await page.getByTestId('device-spare-0001').waitFor({ state: 'detached' });
    await page.getByTestId('status-filter').selectOption('');
    await page.getByTestId(`device-${DN}`).waitFor();
  });

  await step('edit the validation mode', async () => {
    const [patched] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/products/${PK}`) && r.request().method() === 'PATCH'),
      page.getByTestId('validation').first().selectOption('strict'),
    ]);
    expect(patched.status() === 200, `PATCH answered ${patched.status()}`);
    expect((await page.getByTestId('validation').first().inputValue()) === 'strict', 'validation not strict');
  });

  await step('the device connects', async () => {
    // The broker plugin learns about a new device within a second (LISTEN/NOTIFY).
    let last;
    for (let i = 0; i < 20; i++) {
      try {
        await device.connect();
        return;
      } catch (e) {
        last = e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    throw last;
  });

  await step('the list shows it online without a reload (stream)', async () => {
    await page.getByTestId(`device-${DN}`).getByText('online').waitFor({ timeout: LIVE_MS });
  }, reload);
  await page.getByTestId(`device-${DN}`).getByText('online').waitFor({ timeout: 3000 }).catch(() => {});
  await shot('devices');

  await step('open the device page', async () => {
    await page.getByTestId(`device-${DN}`).getByRole('link', { name: DN }).click();
    await page.waitForURL(`**/products/${PK}/devices/${DN}`);
    await page.getByTestId('latest-properties').waitFor();
    await page.getByTestId('set-TargetTemp').waitFor();
  });

  await step('an empty chart spans the last hour, not 1970', async () => {
    await page.getByTestId('chart-empty').waitFor();
    expect((await page.getByTestId('chart-range').inputValue()) === '0', 'the chart does not default to fitting its data');
    const [min, max] = await page.getByTestId('chart').evaluate((el) => [Number(el.dataset.xMin), Number(el.dataset.xMax)]);
    const now = Date.now() / 1000;
    expect(Math.abs(max - now) < 120 && Math.abs(max - min - 3600) < 120, `empty chart x axis ${new Date(min * 1000).toISOString()} … ${new Date(max * 1000).toISOString()}`);
  });

  await step('a posted value appears without a reload (stream)', async () => {
    await page.getByTestId('latest-properties').getByText('No values reported yet.').waitFor();
    const reply = await device.postProperties({ Humidity: 45.25, RunCount: 12, PowerOn: 1, TargetTemp: 21.5, Label: 'hall', FanLevel: 2 });
    expect(reply.code === 200, `post reply ${JSON.stringify(reply)}`);
    await page.getByTestId('latest-Humidity').getByTestId('value').getByText('45.25 %RH').waitFor({ timeout: LIVE_MS });
  }, reload);

  await step('browser-side check refuses an out-of-range value', async () => {
    const row = page.getByTestId('set-TargetTemp');
    await row.getByTestId('input-TargetTemp').fill('99');
    await row.getByTestId('submit').click();
    await row.getByTestId('field-error-TargetTemp').getByText('≤ 35').waitFor();
    expect((await row.getByTestId('call-progress').count()) === 0, 'a call was made for a refused value');
  });

  await step('set a property and see the device answer', async () => {
    const row = page.getByTestId('set-TargetTemp');
    await row.getByTestId('input-TargetTemp').fill('22.5');
    await row.getByTestId('submit').click();
    await row.locator('[data-testid=call-progress][data-status=succeeded]').waitFor({ timeout: 10000 });
    expect(device.received.some((r) => r.topic.endsWith('/thing/service/property/set') && r.msg.params?.TargetTemp === 22.5), 'the device did not get the set');
    // The device reports the new value after applying it.
    await page.getByTestId('latest-TargetTemp').getByTestId('value').getByText('22.5 °C').waitFor({ timeout: LIVE_MS });
  }, reload);

  await step('invoke a sync service (RRPC) and see its output', async () => {
    device.serviceOutput.SelfTest = { Passed: 1, Report: 'all sensors fine' };
    const card = page.getByTestId('invoke-SelfTest');
    await card.getByTestId('input-Depth').selectOption('1');
    await card.getByTestId('submit').click();
    await card.locator('[data-testid=call-progress][data-status=succeeded]').waitFor({ timeout: 15000 });
    await card.getByTestId('call-output').getByText('all sensors fine').waitFor();
  });

  await step('invoke an async service and follow it to its final state', async () => {
    const card = page.getByTestId('invoke-Reboot');
    await card.getByTestId('input-DelaySec').fill('5000');
    await card.getByTestId('submit').click();
    await card.getByTestId('field-error-DelaySec').waitFor(); // max 3600, checked in the browser
    await card.getByTestId('input-DelaySec').fill('5');
    await card.getByTestId('submit').click();
    await card.locator('[data-testid=call-progress][data-status=succeeded]').waitFor({ timeout: 15000 });
    expect(device.received.some((r) => r.topic.endsWith('/thing/service/Reboot') && r.msg.params?.DelaySec === 5), 'the device did not get Reboot');
  });

  await step('a refused value shows in rejections without a reload (stream)', async () => {
    // Strict mode refuses out-of-range values; the mode change reaches the gateway within 2 s.
    let reply;
    for (let i = 0; i < 20 && !reply?.data?.Humidity; i++) {
      if (i) await new Promise((r) => setTimeout(r, 250));
      reply = await device.postProperties({ Humidity: 150 });
    }
    expect(reply.code === 200 && reply.data?.Humidity, `expected a per-item refusal: ${JSON.stringify(reply)}`);
    await page.getByTestId('rejections').locator('td code', { hasText: 'Humidity' }).first().waitFor({ timeout: LIVE_MS });
  }, reload);

  await step('an event shows in events without a reload (stream)', async () => {
    const reply = await device.postEvent('LowBattery', { Level: 7, Since: String(Date.now() - 60000) });
    expect(reply.code === 200, `event reply ${JSON.stringify(reply)}`);
    await page.getByTestId('events').getByText('LowBattery').waitFor({ timeout: LIVE_MS });
  }, reload);

  await step('the shadow shows what the device reported and pushes an edited desired state', async () => {
    device.shadowReport({ color: 'red' }, 1);
    await page.waitForTimeout(500);
    await page.reload();
    const card = page.getByTestId('shadow');
    await card.getByTestId('shadow-reported').getByText('red').waitFor({ timeout: LIVE_MS });
    await card.getByTestId('shadow-editor').locator('textarea').fill('{"color": "green"}');
    await card.getByTestId('shadow-save').click();
    await card.getByTestId('shadow-version').getByText('2').waitFor({ timeout: LIVE_MS });
    await card.getByTestId('shadow-desired').getByText('green').waitFor();
    const until = Date.now() + LIVE_MS;
    while (!device.received.some((r) => r.topic.startsWith('/shadow/get/') && r.msg.method === 'control') && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(
      device.received.some((r) => r.topic.startsWith('/shadow/get/') && r.msg.method === 'control' && r.msg.payload?.state?.desired?.color === 'green'),
      'the device did not get the control message',
    );
  }, reload);

  await step('the chart shows the aggregated history', async () => {
    for (const h of [40, 42.5, 47, 44]) await device.postProperties({ Humidity: { value: h, time: Date.now() - Math.round(Math.random() * 600000) } });
    await page.getByTestId('chart-property').selectOption('Humidity');
    await page.getByTestId('chart-range').selectOption({ label: 'last 1 hour' });
    await page.getByTestId('chart-interval').selectOption('1m');
    await page.getByTestId('chart-count').getByText(/[1-9]\d* samples/).waitFor({ timeout: 10000 });
    expect((await page.locator('[data-testid=chart] canvas').count()) === 1, 'no chart canvas');
    // The default range fits the data: samples of the last 10 minutes fill the chart, not a sliver of an hour.
    await page.getByTestId('chart-interval').selectOption('auto');
    await page.getByTestId('chart-range').selectOption('0');
    await page.waitForFunction(() => {
      const el = document.querySelector('[data-testid=chart]');
      const span = Number(el?.dataset.xMax) - Number(el?.dataset.xMin);
      return span > 0 && span < 15 * 60;
    });
    await page.getByTestId('chart-count').getByText(/[1-9]\d* samples/).waitFor({ timeout: 10000 });
    expect((await page.getByTestId('chart-error').count()) === 0, `the chart shows an error: ${await page.getByTestId('chart-error').allInnerTexts()}`);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(SHOTS, 'device.png'), fullPage: true });
  });

  await step('the device page fits a laptop screen (1280 x 720)', async () => {
    await page.setViewportSize({ width: 1280, height: 720 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow <= 0, `the page is ${overflow} px wider than the window`);
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await step('the products page', async () => {
    await page.getByRole('link', { name: 'Products' }).first().click();
    await page.getByTestId(`product-${PK}`).getByText('v1').waitFor();
    await shot('products');
  });

  if (process.env.IOT_FIREFOX) await step('Firefox (WebDriver BiDi) signs in and shows the device page live', async () => {
    await firefoxCheck(WebSocket, {
      executable: process.env.IOT_FIREFOX,
      base: BASE,
      token: TOKEN,
      devicePath: `/products/${PK}/devices/${DN}`,
      screenshot: join(SHOTS, 'firefox-device.png'),
      log,
    });
  });

  await step('the fleet overview counts devices by state per product', async () => {
    await page.getByTestId('nav-overview').click();
    const row = page.getByTestId(`overview-${PK}`);
    await row.waitFor();
    await page.waitForFunction((pk) => document.querySelector(`[data-testid=overview-${pk}] [data-testid=count-online]`)?.textContent === '1', PK);
    expect((await row.getByTestId('count-unactive').innerText()).trim() === '2', 'two imported devices unactive');
    await shot('overview');
  });

  await step("a gateway's page lists its sub-devices with live state; a sub-device links to its gateway", async () => {
    const admin = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
    const rest = async (method, path, body) => {
      const r = await fetch(`${BASE}/api/v1${path}`, { method, headers: admin, body: body === undefined ? undefined : JSON.stringify(body) });
      expect(r.ok, `${method} ${path} answered ${r.status}`);
      return r.status === 204 ? null : r.json();
    };
    const GW_PK = 'consoleGw01';
    const SUB = 'sub-0001';
    await rest('POST', '/products', { productKey: GW_PK, name: 'Console gateway', nodeType: 'gateway' });
    const gw = await rest('POST', `/products/${GW_PK}/devices`, { deviceName: 'gw-0001' });
    const sub = await rest('POST', `/products/${PK}/devices`, { deviceName: SUB });
    await rest('POST', `/products/${GW_PK}/devices/gw-0001/topology`, { devices: [{ productKey: PK, deviceName: SUB }] });
    await page.goto(`${BASE}/products/${GW_PK}/devices/gw-0001`);
    const row = page.getByTestId(`sub-${SUB}`);
    await row.getByText('unactive').waitFor();
    // The gateway logs its sub-device in (combine.login, signed with the sub-device's secret): the row turns
    // online without a reload, then offline after the logout.
    const gateway = new Device(mqtt, { url: MQTT_URL, productKey: GW_PK, deviceName: 'gw-0001', deviceSecret: gw.deviceSecret, log });
    for (let i = 0; ; i++) {
      try {
        await gateway.connect();
        break;
      } catch (e) {
        if (i >= 20) throw e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    try {
      const session = (what) => `/ext/session/${GW_PK}/gw-0001/combine/${what}`;
      const ts = String(Date.now());
      const clientId = `${PK}.${SUB}`;
      const sign = createHmac('sha256', sub.deviceSecret).update(`clientId${clientId}deviceName${SUB}productKey${PK}timestamp${ts}`).digest('hex');
      const login = { productKey: PK, deviceName: SUB, clientId, timestamp: ts, signMethod: 'hmacsha256', sign, cleanSession: 'true' };
      let reply;
      for (let i = 0; i < 20; i++) {
        reply = await gateway.request(session('login'), 'combine.login', login); // the topology reaches the broker within 1 s
        if (reply.code === 200) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(reply.code === 200, `combine.login answered ${JSON.stringify(reply)}`);
      await row.getByText('online').waitFor({ timeout: LIVE_MS });
      await page.getByTestId('subdevices-count').getByText('1 of 1 online').waitFor({ timeout: LIVE_MS });
      await shot('gateway-subdevices');
      expect((await gateway.request(session('logout'), 'combine.logout', { productKey: PK, deviceName: SUB })).code === 200, 'logout refused');
      await row.getByText('offline').waitFor({ timeout: LIVE_MS });
    } finally {
      await gateway.close();
    }
    await row.getByRole('link', { name: SUB }).click();
    await page.waitForURL(`**/products/${PK}/devices/${SUB}`);
    await page.getByTestId('device-gateway').getByRole('link', { name: 'gw-0001' }).waitFor();
  });

  await rulesSteps();

  await alarmSteps();
  await firmwareSteps();  // before the steps that sign out

  await step('a 503 with Retry-After is retried after the wait and never signs out', async () => {
    // The first products list is answered as iot-api answers when the token check cannot run.
    let refused = 0;
    let passed = 0;
    const isList = (url) => url.pathname === '/api/v1/products';
    const handler = async (route) => {
      if (refused === 0) {
        refused++;
        await route.fulfill({
          status: 503,
          headers: { 'Retry-After': '1', 'Content-Type': 'application/problem+json' },
          body: JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'token check unavailable (database busy or away): retry' }),
        });
        return;
      }
      passed++;
      await route.continue();
    };
    await page.route(isList, handler);
    try {
      const started = Date.now();
      await page.getByRole('link', { name: 'Products' }).first().click();
      await page.getByTestId(`product-${PK}`).waitFor();
      expect(refused === 1 && passed >= 1, `refused ${refused}, passed ${passed}`);
      expect(Date.now() - started >= 900, 'retried before Retry-After said');
      expect((await page.evaluate(() => sessionStorage.getItem('iot.token'))) === TOKEN, 'signed out by a 503');
    } finally {
      await page.unroute(isList, handler);
    }
  });

  await step('a stream whose token is revoked is closed (4401) and the console signs out', async () => {
    const admin = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
    const created = await fetch(`${BASE}/api/v1/tokens`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'console-revoked', role: 'viewer' }) });
    expect(created.status === 201, `POST /tokens answered ${created.status}`);
    const { id, token } = await created.json();
    await page.evaluate((t) => sessionStorage.setItem('iot.token', t), token);
    await page.goto(`${BASE}/products/${PK}/devices/${DN}`);
    await page.waitForFunction(() => document.querySelector('[data-testid=stream-state]')?.classList.contains('st-live'));
    // From now on the page's REST calls are held back unanswered (the device page reloads its chart on
    // live data): only the stream's 4401 can sign it out.
    const unauthorized = [];
    const on401 = (r) => r.status() === 401 && unauthorized.push(r.url());
    const held = [];
    const isRest = (url) => url.pathname.startsWith('/api/v1/') && url.pathname !== '/api/v1/stream';
    const hold = (route) => held.push(route);
    page.on('response', on401);
    await page.route(isRest, hold);
    try {
      const revoked = await fetch(`${BASE}/api/v1/tokens/${id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${TOKEN}` } });
      expect(revoked.status === 204, `DELETE /tokens/${id} answered ${revoked.status}`);
      await page.getByLabel('Token').waitFor({ timeout: 5000 }); // the sign-in form
    } finally {
      page.off('response', on401);
      await page.unroute(isRest, hold);
      for (const route of held) await route.abort().catch(() => {});
    }
    expect(unauthorized.length === 0, `signed out by a REST 401, not by the stream: ${unauthorized.join(', ')}`);
    expect((await page.evaluate(() => sessionStorage.getItem('iot.token'))) === null, 'the revoked token is still kept');
  });

  await step('no external network request and no page error', async () => {
    expect(external.length === 0, `external requests: ${external.join(', ')}`);
    expect(pageErrors.length === 0, `page errors: ${pageErrors.join(' | ')}`);
  });
} finally {
  await device.close().catch(() => {});
  await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}

// OTA on the product's Firmware tab: upload a package (with its progress bar), a job over the device followed
// live to its end while the simulated device answers its push as a device of the SDK would (progress, then
// the new version), a job over all devices cancelled, the device page's module versions, delete.
async function firmwareSteps() {
  const FW = '2.0.0';
  const ota = (what) => `/ota/device/${what}/${PK}/${DN}`;
  const jobState = (state, timeout = 10000) =>
    page.waitForFunction((s) => document.querySelector('[data-testid=job-state]')?.textContent === s, state, { timeout });
  await step('firmware: upload a package on the product page', async () => {
    await page.goto(`${BASE}/products/${PK}/firmware`);
    await page.getByTestId('firmware-tab').waitFor();
    await page.getByTestId('firmware-file').setInputFiles({ name: 'lamp-2.0.0.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(300 * 1024, 7) });
    await page.getByTestId('firmware-version').fill(FW);
    await page.getByTestId('firmware-upload').click();
    const row = page.getByTestId(`firmware-${FW}`);
    await row.waitFor();
    expect((await row.innerText()).includes('300.0 KiB'), `the size is not shown: ${await row.innerText()}`);
    await shot('firmware');
  });

  await step('firmware: a job over the device, followed live to its end', async () => {
    if (!device.client?.connected) await device.connect();
    await device.client.subscribeAsync(ota('upgrade'), { qos: 1 });
    const pushed = new Promise((resolve) => device.client.on('message', (t, p) => t === ota('upgrade') && resolve(JSON.parse(p.toString()))));
    device.client.publish(ota('inform'), JSON.stringify({ id: '1', params: { version: '1.0.0' } }), { qos: 1 });
    // The upload opened the package's jobs already ("Hide jobs"); a click would close them.
    const jobs = page.getByTestId(`firmware-jobs-${FW}`);
    if ((await jobs.innerText()).trim() === 'Jobs') await jobs.click();
    await page.getByTestId('job-devices').fill(DN);
    await page.getByTestId('job-create').click();
    await jobState('running');
    const push = await Promise.race([pushed, new Promise((_, reject) => setTimeout(() => reject(new Error('no push within 15 s')), 15000))]);
    expect(push.code === '1000' && push.data?.version === FW && push.data?.size === 300 * 1024, `push ${JSON.stringify(push)}`);
    device.client.publish(ota('progress'), JSON.stringify({ id: '2', params: { step: '50', desc: 'fetching' } }), { qos: 1 });
    await page.getByTestId(`ota-task-${DN}`).getByText('downloading').waitFor({ timeout: LIVE_MS });
    await shot('firmware-job-running');
    device.client.publish(ota('inform'), JSON.stringify({ id: '3', params: { version: FW } }), { qos: 1 });
    await jobState('completed'); // the driver completes it on its next tick (1 s), the page polls every 2 s
    await page.getByTestId(`ota-task-${DN}`).getByText('succeeded').waitFor();
    expect((await page.getByTestId('job-progress').evaluate((e) => e.value)) === 1, 'the job bar is not full');
  });

  await step('firmware: a job over all devices is cancelled', async () => {
    await page.getByTestId('job-devices').fill('');
    await page.getByTestId('job-create').click();
    await page.getByTestId('job-cancel').click();
    await jobState('cancelled', LIVE_MS);
  });

  await step("firmware: the device page shows the module's new version", async () => {
    await page.goto(`${BASE}/products/${PK}/devices/${DN}`);
    await page.getByTestId('device-ota').getByText(FW).first().waitFor();
  });

  await step('firmware: delete the package', async () => {
    await page.goto(`${BASE}/products/${PK}/firmware`);
    await page.getByTestId(`firmware-delete-${FW}`).click(); // the confirm dialog is accepted
    await page.getByTestId(`firmware-${FW}`).waitFor({ state: 'detached' });
  });
}

// The forwarding rules page: a refused filter shows its column; create a webhook rule, see its status,
// disable and enable it, open its (empty) dead letters, delete it.
async function rulesSteps() {
  const name = 'console hook';
  const row = () => page.getByTestId(`rule-${name}`);
  await step('forwarding rules: a filter that does not parse is refused naming its column', async () => {
    await page.getByTestId('nav-rules').click();
    await page.getByRole('heading', { name: 'Forwarding rules' }).waitFor();
    await page.getByTestId('new-rule').click();
    const dialog = page.getByTestId('create-rule');
    await dialog.getByLabel('Name').fill(name);
    await dialog.getByLabel(/^Product key/).fill(PK);
    await dialog.getByLabel(/^Filter/).fill('Temp > ');
    await dialog.getByLabel(/^URL/).fill('http://127.0.0.1:9/hook');
    await dialog.getByRole('button', { name: 'Create' }).click();
    const error = dialog.getByTestId('create-rule-error');
    await error.waitFor();
    expect(/column/.test(await error.innerText()), `no column in: ${await error.innerText()}`);
  }, reload);
  await step('forwarding rules: create a webhook rule and see its delivery status', async () => {
    const dialog = page.getByTestId('create-rule');
    await dialog.getByLabel(/^Filter/).fill('Temp > 40');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await row().waitFor();
    await page.waitForFunction((n) => /\d+ \/ \d+/.test(document.querySelector(`[data-testid="rule-${n}"] [data-testid="rule-delivered"]`)?.textContent ?? ''), name, { timeout: 10000 });
    expect((await row().innerText()).includes('webhook http://127.0.0.1:9/hook'), 'the destination is not shown');
    await shot('rules');
  }, reload);
  await step('forwarding rules: disable and enable, dead letters, delete', async () => {
    await row().getByTestId('rule-toggle').click();
    await row().getByText('disabled', { exact: true }).waitFor();
    await row().getByTestId('rule-toggle').click();
    await row().getByRole('button', { name: 'Disable' }).waitFor();
    await row().getByTestId('rule-dead-letters').click();
    await page.getByTestId('no-dead-letters').waitFor();
    await page.keyboard.press('Escape');
    await page.getByTestId('dead-letters').waitFor({ state: 'detached' });
    await row().getByTestId('rule-delete').click();
    await row().waitFor({ state: 'detached' });
  }, reload);
}

// IOT_CONSOLE_HOLD_S=N keeps the stack up for N seconds after the run (to look at it with another browser).
const holdSeconds = Number(process.env.IOT_CONSOLE_HOLD_S || 0);
if (holdSeconds > 0) {
  log(`holding the stack for ${holdSeconds} s: ${BASE}/products/${PK}/devices/${DN}`);
  await new Promise((r) => setTimeout(r, holdSeconds * 1000));
}

const failed = results.filter((r) => !r.ok);
console.log(`\nconsole browser steps: ${results.length - failed.length} of ${results.length} ok`);
for (const f of failed) console.log(`  failed: ${f.name}: ${f.why}`);
console.log(`screenshots in ${SHOTS}`);
process.exit(failed.length ? 1 : 0);

// Alarms (web/src/pages/Alarms.tsx): a rule raises on the device's posts, the device page shows a badge, the
// alarm list updates live, an operator acknowledges and clears, the clear condition clears.
async function alarmSteps() {
  const admin = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
  const rest = async (method, path, body) => {
    const r = await fetch(`${BASE}/api/v1${path}`, { method, headers: admin, body: body === undefined ? undefined : JSON.stringify(body) });
    expect(r.ok, `${method} ${path} answered ${r.status}`);
    return r.status === 204 ? null : r.json();
  };
  const openAlarms = async () => (await rest('GET', `/alarms?productKey=${PK}&deviceName=${DN}&state=open`)).items;
  await step('alarms: a threshold rule raises and the device page shows a badge', async () => {
    await rest('POST', `/products/${PK}/alarm-rules`, { name: 'too humid', severity: 'critical', when: 'Humidity > 90', clearWhen: 'Humidity < 80' });
    await rest('POST', `/products/${PK}/alarm-rules`, { name: 'battery', severity: 'minor', event: 'alert' });
    // The gateways load a new rule within about a second: post until it raised.
    for (let i = 0; i < 40 && (await openAlarms()).length === 0; i++) {
      expect((await device.postProperties({ Humidity: 95 })).code === 200, 'post refused');
      await new Promise((r) => setTimeout(r, 250));
    }
    expect((await openAlarms()).length === 1, 'no alarm raised');
    await page.goto(`${BASE}/products/${PK}/devices/${DN}`);
    await page.getByTestId('device-alarm-badge').getByText('1 open alarm').waitFor();
  });
  await step('alarms: the list shows it active, acknowledges it and follows changes live', async () => {
    await page.getByTestId('device-alarm-badge').click();
    await page.waitForURL(/\/alarms\?/);
    const list = page.getByTestId('alarm-list');
    const row = list.locator('tr', { hasText: 'too humid' }).first();
    await row.getByTestId('alarm-state').getByText('active').waitFor();
    await row.getByTestId('alarm-ack').click();
    await row.getByTestId('alarm-state').getByText('acknowledged').waitFor();
    // An alert event raises the event rule's alarm without a reload; it is listed first (newest open).
    expect((await device.postEvent('LowBattery', { Level: 3, Since: String(Date.now()) })).code === 200, 'event refused');
    await list.locator('tr', { hasText: 'battery' }).getByTestId('alarm-state').getByText('active').waitFor({ timeout: LIVE_MS });
    await shot('alarms');
    await list.locator('tr', { hasText: 'battery' }).getByTestId('alarm-clear').click();
    await list.locator('tr', { hasText: 'battery' }).getByTestId('alarm-state').getByText('cleared').waitFor();
    // The clear condition clears the acknowledged one, live.
    expect((await device.postProperties({ Humidity: 50 })).code === 200, 'post refused');
    await row.getByTestId('alarm-state').getByText('cleared').waitFor({ timeout: LIVE_MS });
    expect((await openAlarms()).length === 0, 'alarms still open');
  }, reload);
}
