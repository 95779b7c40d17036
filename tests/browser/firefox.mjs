// Debian's firefox-esr driven over WebDriver BiDi (playwright-core only drives its own patched Firefox
// builds): signs in, opens the device page and checks what it shows and that the stream is live.
// Opt-in (IOT_FIREFOX=/usr/bin/firefox-esr): even with the preferences below, Firefox 153 ESR still looks
// up firefox.settings.services.mozilla.com in DNS, and this test must make no request off the machine.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Firefox calls home (updates, telemetry, safe browsing, remote settings, captive-portal checks): all of
// that is switched off, and any request that is not to the loopback goes to a dead local proxy port.
const QUIET_PREFS = Object.entries({
  'network.proxy.type': 1,
  'network.proxy.http': '127.0.0.1',
  'network.proxy.http_port': 9,
  'network.proxy.ssl': '127.0.0.1',
  'network.proxy.ssl_port': 9,
  'network.proxy.no_proxies_on': 'localhost, 127.0.0.1',
  'network.proxy.allow_hijacking_localhost': false,
  'network.trr.mode': 5,
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'network.predictor.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'app.update.enabled': false,
  'app.update.auto': false,
  'app.normandy.enabled': false,
  'app.shield.optoutstudies.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'browser.safebrowsing.downloads.enabled': false,
  'browser.safebrowsing.downloads.remote.enabled': false,
  'browser.safebrowsing.blockedURIs.enabled': false,
  'browser.startup.page': 0,
  'browser.startup.homepage': 'about:blank',
  'browser.newtabpage.enabled': false,
  'browser.search.update': false,
  'browser.region.network.url': '',
  'browser.topsites.contile.enabled': false,
  'browser.ping-centre.telemetry': false,
  'datareporting.healthreport.uploadEnabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.enabled': false,
  'toolkit.telemetry.unified': false,
  'toolkit.telemetry.server': '',
  'services.settings.server': 'http://127.0.0.1:9/',
  'dom.push.enabled': false,
  'dom.push.serverURL': '',
  'extensions.update.enabled': false,
  'extensions.getAddons.cache.enabled': false,
  'extensions.blocklist.enabled': false,
  'extensions.systemAddon.update.enabled': false,
  'media.gmp-manager.url': '',
  'media.gmp-gmpopenh264.enabled': false,
  'geo.provider.network.url': '',
  'security.OCSP.enabled': 0,
  'security.remote_settings.crlite_filters.enabled': false,
  'identity.fxaccounts.enabled': false,
  'network.http.speculative-parallel-limit': 0,
  'browser.urlbar.speculativeConnect.enabled': false,
  'services.settings.poll_interval': 31536000,
  'services.sync.engine.addons': false,
  'browser.contentblocking.report.monitor.enabled': false,
  'messaging-system.rsexperimentloader.enabled': false,
  'browser.newtabpage.activity-stream.feeds.system.topstories': false,
  'browser.newtabpage.activity-stream.feeds.snippets': false,
  'privacy.query_stripping.enabled': false,
  'privacy.trackingprotection.enabled': false,
  'privacy.trackingprotection.pbmode.enabled': false,
  'browser.contentblocking.category': 'custom',
  'network.cookie.cookieBehavior': 0,
  'urlclassifier.trackingSkipURLs': '',
  'browser.translations.enable': false,
  'security.certerrors.mitm.priming.enabled': false,
  'network.http.http3.enable': false,
  'doh-rollout.disable-heuristics': true,
})
  .map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});`)
  .join('\n');

export async function firefoxCheck(WebSocket, { executable, base, token, devicePath, screenshot, log = () => {} }) {
  const profile = mkdtempSync(join(tmpdir(), 'iot-firefox-'));
  writeFileSync(join(profile, 'user.js'), QUIET_PREFS);
  const ff = spawn(executable, ['--headless', '--no-remote', '--profile', profile, '--remote-debugging-port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let ws;
  const deadline = (ms, what) => new Promise((_, reject) => setTimeout(() => reject(new Error(`firefox: ${what} within ${ms} ms`)), ms));
  try {
    const url = await Promise.race([
      new Promise((resolve, reject) => {
        let text = '';
        ff.stderr.on('data', (d) => {
          text += String(d);
          const m = text.match(/WebDriver BiDi listening on (ws:\/\/\S+)/);
          if (m) resolve(m[1]);
        });
        ff.on('exit', (code) => reject(new Error(`firefox exited (${code}): ${text.slice(-500)}`)));
      }),
      deadline(30000, 'no WebDriver BiDi endpoint'),
    ]);
    ws = new WebSocket(`${url}/session`);
    await Promise.race([new Promise((r, j) => (ws.once('open', r), ws.once('error', j))), deadline(10000, 'no BiDi session socket')]);
    let id = 0;
    const pending = new Map();
    const pageErrors = [];
    ws.on('message', (m) => {
      const x = JSON.parse(m);
      if (x.id && pending.has(x.id)) {
        pending.get(x.id)(x);
        pending.delete(x.id);
      } else if (x.method === 'log.entryAdded' && x.params.level === 'error' && !/WebSocket/.test(x.params.text ?? '')) pageErrors.push(x.params.text);
    });
    const cmd = async (method, params) => {
      const x = await Promise.race([new Promise((r) => {
        const i = ++id;
        pending.set(i, r);
        ws.send(JSON.stringify({ id: i, method, params }));
      }), deadline(20000, `no answer to ${method}`)]);
      if (x.type === 'error') throw new Error(`firefox ${method}: ${x.error} ${x.message}`);
      return x.result;
    };
    await cmd('session.new', { capabilities: {} });
    await cmd('session.subscribe', { events: ['log.entryAdded'] });
    const ctx = (await cmd('browsingContext.getTree', {})).contexts[0].context;
    await cmd('browsingContext.setViewport', { context: ctx, viewport: { width: 1440, height: 900 } });
    const evaluate = async (expression) => {
      const r = await cmd('script.evaluate', { expression, target: { context: ctx }, awaitPromise: true });
      if (r.type === 'exception') throw new Error(`firefox script: ${r.exceptionDetails?.text}`);
      return r.result?.value;
    };
    // Polls an expression until it is truthy.
    const until = async (expression, what, ms = 10000) => {
      const end = Date.now() + ms;
      for (;;) {
        const v = await evaluate(expression);
        if (v) return v;
        if (Date.now() > end) throw new Error(`firefox: ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await cmd('browsingContext.navigate', { context: ctx, url: `${base}/`, wait: 'complete' });
    await until(`!!document.querySelector('input[name=token]')`, 'no sign-in form');
    await evaluate(`(() => { const i = document.querySelector('input[name=token]');
      Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(i, ${JSON.stringify(token)});
      i.dispatchEvent(new Event('input', { bubbles: true })); })()`);
    await until(`!document.querySelector('form button[type=submit]').disabled`, 'sign-in button stays disabled');
    await evaluate(`document.querySelector('form button[type=submit]').click()`);
    await until(`document.querySelector('h2')?.textContent === 'Products'`, 'no products page after sign-in');
    await cmd('browsingContext.navigate', { context: ctx, url: `${base}${devicePath}`, wait: 'complete' });
    await until(`document.querySelectorAll('[data-testid^=latest-]').length > 1`, 'no latest properties on the device page');
    await until(`document.querySelector('[data-testid=stream-state]')?.textContent.includes('live')`, 'the stream is not live');
    await until(`!!document.querySelector('[data-testid=chart] canvas')`, 'no chart');
    await until(`document.querySelectorAll('[data-testid^=invoke-]').length >= 2`, 'no service forms');
    const shot = await cmd('browsingContext.captureScreenshot', { context: ctx });
    if (screenshot) writeFileSync(screenshot, Buffer.from(shot.data, 'base64'));
    if (pageErrors.length) throw new Error(`firefox page errors: ${pageErrors.join(' | ')}`);
    await cmd('session.end', {}).catch(() => {});
    log('firefox: sign-in and device page ok');
  } finally {
    ws?.close();
    ff.kill('SIGKILL');
    await new Promise((r) => (ff.exitCode !== null ? r() : ff.once('exit', r)));
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
    } catch {
      /* a child process may still be writing: leave the temp profile */
    }
  }
}
