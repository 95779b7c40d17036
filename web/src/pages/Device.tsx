import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { AggregateRow, api, ApiError, Device, devicePath, EventRow, FINAL_STATUSES, LatestProperty, List, Product, qs, Rejection, ServiceCall } from '../api';
import { AggregateChart } from '../components/Chart';
import { DeviceMessages } from '../components/Messages';
import { ParamsForm } from '../components/ParamsForm';
import { DeviceOtaSection } from '../components/DeviceOta';
import { ShadowSection } from '../components/Shadow';
import { SubDevicesSection } from '../components/SubDevices';
import { AlarmBadge } from './Alarms';
import { ErrorBox, fmtTime, Json, Link, StatusBadge, useDebounced, useLoad } from '../components/ui';
import { StreamMessage, useStream } from '../stream';
import { displayValue, isNumeric, Param, serviceInputs, TslDocument, TslProperty, userServices } from '../tsl';

// FIT (the default): the x axis runs from the first sample of the last 7 days to now, so fresh data fills
// the chart instead of being a sliver at the edge of a fixed hour.
const FIT = 0;
const FIT_LOOKBACK_MS = 7 * 24 * 3600e3;
const FIT_MIN_SPAN_MS = 2 * 60e3;
const EMPTY_RANGE_MS = 3600e3; // what FIT shows when there is no sample to fit
const RANGES: [string, number][] = [
  ['since the first sample', FIT],
  ['last 15 min', 15 * 60e3],
  ['last 1 hour', 3600e3],
  ['last 6 hours', 6 * 3600e3],
  ['last 24 hours', 24 * 3600e3],
  ['last 7 days', 7 * 24 * 3600e3],
];
const INTERVALS: [string, number][] = [
  ['10s', 10e3],
  ['1m', 60e3],
  ['5m', 300e3],
  ['15m', 900e3],
  ['1h', 3600e3],
  ['1d', 86400e3],
];

function autoInterval(rangeMs: number): string {
  for (const [name, ms] of INTERVALS) if (rangeMs / ms <= 200) return name;
  return '1d';
}

// The queried window: a fixed range back from now, or (FIT) from the first sample of the last 7 days.
async function chartWindow(base: string, id: string, range: number): Promise<{ from: number; to: number }> {
  const to = Math.round(Date.now()) + 1000;
  if (range !== FIT) return { from: to - range, to };
  const first = await api<{ items: { time: number }[] }>(
    'GET',
    `${base}/properties/${encodeURIComponent(id)}/history${qs({ from: to - FIT_LOOKBACK_MS, to, order: 'asc', limit: 1 })}`,
  );
  const start = first.items[0]?.time;
  if (start === undefined) return { from: to - EMPTY_RANGE_MS, to };
  const span = Math.max(FIT_MIN_SPAN_MS, Math.round((to - start) * 1.05));
  return { from: Math.max(to - FIT_LOOKBACK_MS, to - span), to };
}

function HistoryChart(props: { base: string; properties: TslProperty[]; tick: number }) {
  const numeric = props.properties.filter((p) => isNumeric(p.dataType));
  const [id, setId] = useState(numeric[0]?.identifier ?? '');
  const [range, setRange] = useState(FIT);
  const [interval, setInterval] = useState('auto');
  useEffect(() => {
    if (!numeric.some((p) => p.identifier === id) && numeric[0]) setId(numeric[0].identifier);
  }, [numeric.map((p) => p.identifier).join()]);
  const rows = useLoad(async () => {
    if (!id) return null;
    const { from, to } = await chartWindow(props.base, id, range);
    const step = interval === 'auto' ? autoInterval(to - from) : interval;
    const r = await api<{ items: AggregateRow[] }>('GET', `${props.base}/properties/${encodeURIComponent(id)}/aggregate${qs({ from, to, interval: step, fn: 'avg,min,max,count' })}`);
    return { items: r.items, from, to, step };
  }, [props.base, id, range, interval, props.tick]);
  const prop = numeric.find((p) => p.identifier === id);
  if (numeric.length === 0) return <p class="muted">The thing model has no numeric property to chart.</p>;
  const samples = rows.data ? rows.data.items.reduce((n, r) => n + (r.count ?? 0), 0) : 0;
  return (
    <div>
      <div class="toolbar">
        <select aria-label="Property" value={id} onChange={(e) => setId((e.target as HTMLSelectElement).value)} data-testid="chart-property">
          {numeric.map((p) => (
            <option value={p.identifier}>
              {p.name || p.identifier} ({p.identifier})
            </option>
          ))}
        </select>
        <select aria-label="Range" value={String(range)} onChange={(e) => setRange(Number((e.target as HTMLSelectElement).value))} data-testid="chart-range">
          {RANGES.map(([name, ms]) => (
            <option value={String(ms)}>{name}</option>
          ))}
        </select>
        <select aria-label="Interval" value={interval} onChange={(e) => setInterval((e.target as HTMLSelectElement).value)} data-testid="chart-interval">
          <option value="auto">auto{rows.data ? ` (${rows.data.step})` : ''}</option>
          {INTERVALS.map(([name]) => (
            <option value={name}>{name}</option>
          ))}
        </select>
        <span class="muted" data-testid="chart-count">
          {rows.data ? `${samples} samples in ${rows.data.items.length} buckets` : ''}
        </span>
      </div>
      <ErrorBox error={rows.error} testid="chart-error" />
      {rows.data && samples === 0 && (
        <p class="muted" data-testid="chart-empty">
          No samples of {prop?.identifier ?? id} {range === FIT ? 'in the last 7 days' : 'in this range'}.
        </p>
      )}
      {rows.data && <AggregateChart rows={rows.data.items} fromMs={rows.data.from} toMs={rows.data.to} unit={prop?.dataType.specs?.unit ?? ''} label={prop?.identifier ?? id} />}
    </div>
  );
}

function CallProgress(props: { base: string; call: ServiceCall; onDone?: () => void; streamTick: number }) {
  const [call, setCall] = useState(props.call);
  useEffect(() => setCall(props.call), [props.call]);
  const final = FINAL_STATUSES.includes(call.status);
  // Polls until the call reaches a final state; stream messages about the call also trigger a read.
  useEffect(() => {
    if (final) return;
    let stopped = false;
    const poll = async () => {
      try {
        const c = await api<ServiceCall>('GET', `${props.base}/service-calls/${encodeURIComponent(call.callId)}`);
        if (!stopped) setCall(c);
      } catch {
        /* keep the last state; the next poll retries */
      }
    };
    const timer = window.setInterval(poll, 700);
    poll();
    return () => {
      stopped = true;
      window.clearInterval(timer);
    };
  }, [call.callId, final, props.streamTick]);
  const steps: [string, number | null][] = [
    ['requested', call.requestedAt],
    ['sent', call.sentAt],
    ['replied', call.repliedAt],
  ];
  return (
    <div class="call" data-testid="call-progress" data-status={call.status}>
      <div>
        <code>{call.identifier}</code> <span class="muted">{call.callType}</span> <StatusBadge status={call.status} />
        {call.code !== null && call.code !== undefined ? <span class="muted"> code {call.code}</span> : null}
        {call.message ? <span class="muted"> · {call.message}</span> : null}
      </div>
      <ol class="steps">
        {steps.map(([name, t]) => (
          <li class={t ? 'done' : ''}>
            {name} {t ? <span class="muted">{fmtTime(t)}</span> : null}
          </li>
        ))}
      </ol>
      <div>
        params <Json value={call.params} />
      </div>
      {(call.output !== null && call.output !== undefined) || final ? (
        <div data-testid="call-output">
          output <Json value={call.output} />
        </div>
      ) : null}
    </div>
  );
}

function callFromError(e: unknown): ServiceCall | undefined {
  return e instanceof ApiError ? e.problem.serviceCall : undefined;
}

function Control(props: { base: string; model: TslDocument; streamTick: number; onCall: () => void; latest?: LatestProperty[] }) {
  // Each set form starts from the property's reported value, once it has one (it is not overwritten while
  // the operator types: a row is re-initialised only when its property first gets a value).
  const known = (props.latest ?? []).map((l) => l.identifier).sort().join();
  const current = useMemo(() => Object.fromEntries((props.latest ?? []).map((l) => [l.identifier, l.value])), [known]);
  const [calls, setCalls] = useState<Record<string, ServiceCall>>({});
  const rw = (props.model.properties ?? []).filter((p) => p.accessMode === 'rw');
  const services = userServices(props.model);
  const remember = (key: string, call: ServiceCall) => {
    setCalls((c) => ({ ...c, [key]: call }));
    props.onCall();
  };
  const post = async (key: string, path: string, body: unknown) => {
    try {
      remember(key, await api<ServiceCall>('POST', path, body));
    } catch (e) {
      const call = callFromError(e);
      if (call) remember(key, call);
      throw e;
    }
  };
  return (
    <div class="control">
      <h3>Set properties</h3>
      {rw.length === 0 && <p class="muted">No rw property in the model.</p>}
      <table class="grid set-table" data-testid="set-properties">
        <tbody>
          {rw.map((p) => (
            <tr data-testid={`set-${p.identifier}`}>
              <td>
                <code>{p.identifier}</code>
                <div class="muted small">{p.name}</div>
              </td>
              <td>
                <ParamsForm key={`${p.identifier}:${p.identifier in current}`} initial={current} compact params={[p as Param]} pathPrefix="/params" submitLabel="Set" onSubmit={(values) => post(`set:${p.identifier}`, `${props.base}/properties`, { params: values })} />
                {calls[`set:${p.identifier}`] && <CallProgress base={props.base} call={calls[`set:${p.identifier}`]} streamTick={props.streamTick} />}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Services</h3>
      {services.length === 0 && <p class="muted">No services in the model.</p>}
      {services.map((s) => (
        <div class="card service" data-testid={`invoke-${s.identifier}`}>
          <div class="service-head">
            <strong>{s.name || s.identifier}</strong> <code>{s.identifier}</code> <span class="badge">{s.callType ?? 'async'}</span>
          </div>
          <ParamsForm params={serviceInputs(s)} pathPrefix="/params" submitLabel="Invoke" onSubmit={(values) => post(`svc:${s.identifier}`, `${props.base}/services/${encodeURIComponent(s.identifier)}`, { params: values })} />
          {calls[`svc:${s.identifier}`] && <CallProgress base={props.base} call={calls[`svc:${s.identifier}`]} streamTick={props.streamTick} />}
        </div>
      ))}
    </div>
  );
}

// The newest `pages` pages of a list (reloaded on every tick); "Load older" adds a page.
function useLiveList<T>(url: string, tick: number) {
  const [pages, setPages] = useState(1);
  const loaded = useLoad(async () => {
    const items: T[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < pages; i++) {
      const page: List<T> = await api<List<T>>('GET', url + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''));
      items.push(...page.items);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    return { items, nextCursor: cursor };
  }, [url, tick, pages]);
  return { ...loaded, more: () => setPages((n) => n + 1) };
}

function LoadOlder(props: { list: { data?: List<unknown>; more: () => void }; testid: string }) {
  if (!props.list.data?.nextCursor) return null;
  return (
    <button class="small" onClick={props.list.more} data-testid={props.testid}>
      Load older
    </button>
  );
}

export function DevicePage(props: { pk: string; dn: string }) {
  const { pk, dn } = props;
  const base = devicePath(pk, dn);
  const product = useLoad(() => api<Product>('GET', `/products/${encodeURIComponent(pk)}`), [pk]);
  const device = useLoad(() => api<Device>('GET', base), [base]);
  const model = useLoad(async () => {
    try {
      return await api<TslDocument>('GET', `/products/${encodeURIComponent(pk)}/thing-model?version=latest`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }
  }, [pk]);
  const [ticks, setTicks] = useState({ property: 0, event: 0, rejection: 0, serviceCall: 0, status: 0 });
  const bump = (k: keyof typeof ticks) => setTicks((t) => ({ ...t, [k]: t[k] + 1 }));
  const latest = useLoad(() => api<{ items: LatestProperty[] }>('GET', `${base}/properties`), [base, ticks.property]);
  const events = useLiveList<EventRow>(`${base}/events?limit=20`, ticks.event);
  const rejections = useLiveList<Rejection>(`${base}/rejections?limit=20`, ticks.rejection);
  const calls = useLiveList<ServiceCall>(`${base}/service-calls?limit=20`, ticks.serviceCall);
  const [chartTick, setChartTick] = useState(0);
  const chartReload = useDebounced(() => setChartTick((t) => t + 1), 3000);
  const [changed, setChanged] = useState<Set<string>>(new Set());
  const prev = useRef<Record<string, number>>({});
  // Highlight values that changed since the last read.
  useEffect(() => {
    const items = latest.data?.items ?? [];
    const now = new Set<string>();
    for (const it of items) {
      if (prev.current[it.identifier] !== undefined && prev.current[it.identifier] !== it.time) now.add(it.identifier);
      prev.current[it.identifier] = it.time;
    }
    setChanged(now);
  }, [latest.data]);
  const debounced = {
    property: useDebounced(() => bump('property'), 150),
    event: useDebounced(() => bump('event'), 150),
    rejection: useDebounced(() => bump('rejection'), 150),
    serviceCall: useDebounced(() => bump('serviceCall'), 150),
    status: useDebounced(() => (bump('status'), device.reload()), 150),
  };
  const [liveStatus, setLiveStatus] = useState<string | null>(null);
  useEffect(() => setLiveStatus(null), [device.data]);
  useStream(pk, dn, (m: StreamMessage) => {
    switch (m.type) {
      case 'property':
        debounced.property();
        chartReload();
        break;
      case 'event':
        debounced.event();
        break;
      case 'rejection':
        debounced.rejection();
        break;
      case 'serviceCall':
        debounced.serviceCall();
        break;
      case 'status':
        if (typeof m.data?.status === 'string') setLiveStatus(m.data.status);
        debounced.status();
        break;
      case 'resync':
        Object.values(debounced).forEach((f) => f());
        break;
    }
  });
  const props_ = useMemo(() => model.data?.properties ?? [], [model.data]);
  const byId = useMemo(() => new Map(props_.map((p) => [p.identifier, p])), [props_]);
  const d = device.data;
  const [actionError, setActionError] = useState<unknown>(null);
  const toggle = async () => {
    if (!d) return;
    setActionError(null);
    try {
      await api('PATCH', base, { enabled: !d.enabled });
      device.reload();
    } catch (e) {
      setActionError(e);
    }
  };
  return (
    <section>
      <div class="crumbs">
        <Link href="/products">Products</Link> / <Link href={`/products/${encodeURIComponent(pk)}/devices`}>{product.data?.name ?? pk}</Link> / <span>{dn}</span>
      </div>
      <ErrorBox error={device.error ?? actionError} />
      {d && (
        <div class="page-head">
          <h2>
            {d.deviceName} {d.nickname ? <span class="muted">“{d.nickname}”</span> : null} <StatusBadge status={liveStatus ?? d.status} /> <AlarmBadge pk={pk} dn={dn} />
          </h2>
          <div class="facts">
            <span>
              product <code>{pk}</code>
            </span>
            {d.gateway && (
              <span data-testid="device-gateway">
                gateway <Link href={devicePath(d.gateway.productKey, d.gateway.deviceName)}>{d.gateway.deviceName}</Link>
              </span>
            )}
            <span>IP {d.ipAddress ?? '—'}</span>
            <span>last online {fmtTime(d.lastOnlineAt)}</span>
            <span>last offline {fmtTime(d.lastOfflineAt)}</span>
            {Object.entries(d.tags ?? {}).map(([k, v]) => (
              <span class="tag">
                {k}:{v}
              </span>
            ))}
            <button class="small" onClick={toggle} data-testid="toggle-enabled">
              {d.enabled ? 'Disable' : 'Enable'}
            </button>
          </div>
        </div>
      )}
      {model.data === null && <p class="muted">The product has no published thing model: only raw values are shown.</p>}
      <div class="device-grid">
        <div>
          <div class="card">
            <h3>Latest properties</h3>
            <ErrorBox error={latest.error} />
            <table class="grid" data-testid="latest-properties">
              <thead>
                <tr>
                  <th>Property</th>
                  <th>Value</th>
                  <th>Device time</th>
                </tr>
              </thead>
              <tbody>
                {(latest.data?.items ?? []).map((it) => (
                  <tr data-testid={`latest-${it.identifier}`} class={changed.has(it.identifier) ? 'flash' : ''}>
                    <td>
                      <code>{it.identifier}</code>
                      {it.name ? <div class="muted small">{it.name}</div> : null}
                    </td>
                    <td class="value" data-testid="value">
                      {displayValue(byId.get(it.identifier)?.dataType, it.value)}
                    </td>
                    <td>{fmtTime(it.time)}</td>
                  </tr>
                ))}
                {latest.data && latest.data.items.length === 0 && (
                  <tr>
                    <td colSpan={3} class="muted">
                      No values reported yet.
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
          <div class="card">
            <h3>History</h3>
            <HistoryChart base={base} properties={props_} tick={chartTick} />
          </div>
        </div>
        <div class="card">{model.data && <Control base={base} model={model.data} latest={latest.data?.items} streamTick={ticks.serviceCall} onCall={() => bump('serviceCall')} />}</div>
      </div>
      <div class="card">
        <h3>Events</h3>
        <ErrorBox error={events.error} />
        <table class="grid" data-testid="events">
          <thead>
            <tr>
              <th>Time</th>
              <th>Event</th>
              <th>Type</th>
              <th>Output</th>
            </tr>
          </thead>
          <tbody>
            {events.data?.items.map((e) => (
              <tr>
                <td>{fmtTime(e.time)}</td>
                <td>
                  <code>{e.identifier}</code> {e.name ? <span class="muted">{e.name}</span> : null}
                </td>
                <td>
                  <span class={`badge ev-${e.type}`}>{e.type}</span>
                </td>
                <td>
                  <Json value={e.output} />
                </td>
              </tr>
            ))}
            {events.data && events.data.items.length === 0 && (
              <tr>
                <td colSpan={4} class="muted">
                  No events.
                </td>
              </tr>
            )}
          </tbody>
        </table>
        <LoadOlder list={events} testid="older-events" />
      </div>
      <div class="card">
        <h3>Rejections</h3>
        <ErrorBox error={rejections.error} />
        <table class="grid" data-testid="rejections">
          <thead>
            <tr>
              <th>Time</th>
              <th>Method</th>
              <th>Identifier</th>
              <th>Value</th>
              <th>Code</th>
              <th>Message</th>
            </tr>
          </thead>
          <tbody>
            {rejections.data?.items.map((r) => (
              <tr>
                <td>{fmtTime(r.time)}</td>
                <td>
                  <code>{r.method}</code>
                </td>
                <td>
                  <code>{r.identifier ?? '—'}</code>
                </td>
                <td>
                  <Json value={r.value} />
                </td>
                <td>{r.code}</td>
                <td>{r.message}</td>
              </tr>
            ))}
            {rejections.data && rejections.data.items.length === 0 && (
              <tr>
                <td colSpan={6} class="muted">
                  Nothing refused.
                </td>
              </tr>
            )}
          </tbody>
        </table>
        <LoadOlder list={rejections} testid="older-rejections" />
      </div>
      {product.data?.nodeType === 'gateway' && <SubDevicesSection base={base} />}
      <ShadowSection base={base} />
      <DeviceOtaSection base={base} />
      <div class="card">
        <h3>Service calls</h3>
        <ErrorBox error={calls.error} />
        <table class="grid" data-testid="service-calls">
          <thead>
            <tr>
              <th>Requested</th>
              <th>Service</th>
              <th>Status</th>
              <th>Params</th>
              <th>Output</th>
              <th>By</th>
            </tr>
          </thead>
          <tbody>
            {calls.data?.items.map((c) => (
              <tr>
                <td>{fmtTime(c.requestedAt)}</td>
                <td>
                  <code>{c.identifier}</code> <span class="muted">{c.callType}</span>
                </td>
                <td>
                  <StatusBadge status={c.status} />
                  {c.code !== null && c.code !== undefined ? <span class="muted"> {c.code}</span> : null}
                </td>
                <td>
                  <Json value={c.params} />
                </td>
                <td>
                  <Json value={c.output} />
                </td>
                <td>{c.requestedBy}</td>
              </tr>
            ))}
            {calls.data && calls.data.items.length === 0 && (
              <tr>
                <td colSpan={6} class="muted">
                  No calls yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
        <LoadOlder list={calls} testid="older-calls" />
      </div>
      <DeviceMessages pk={props.pk} dn={props.dn} />
    </section>
  );
}
