// Alarms (GET /api/v1/alarms): open ones (active, acknowledged) first, newest first, filtered by state and
// severity (and product / device from the query string), reloaded live on the stream's alarm messages;
// operators acknowledge and clear. AlarmBadge: the open alarms of one device, for the device page.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, devicePath, List, listAll, Product, qs } from '../api';
import { ErrorBox, fmtTime, Json, Link, useDebounced, useLoad } from '../components/ui';
import { subscribe, useStream } from '../stream';

export type Severity = 'info' | 'minor' | 'major' | 'critical';
export type AlarmState = 'active' | 'acknowledged' | 'cleared';
export interface Alarm {
  id: number;
  rule: string;
  ruleId: number;
  productKey: string;
  deviceName: string;
  severity: Severity;
  state: AlarmState;
  count: number;
  raisedAt: number;
  ackedAt: number | null;
  ackedBy: string | null;
  clearedAt: number | null;
  clearedBy: string | null;
  lastValue: unknown;
}

const PAGE = 100;

export function AlarmsPage() {
  const params = new URLSearchParams(location.search);
  const productKey = params.get('productKey') ?? undefined;
  const deviceName = params.get('deviceName') ?? undefined;
  const [state, setState] = useState(params.get('state') ?? '');
  const [severity, setSeverity] = useState('');
  const [cursor, setCursor] = useState<string | null>(null);
  const alarms = useLoad(
    () => api<List<Alarm>>('GET', '/alarms' + qs({ productKey, deviceName, state, severity, limit: PAGE, cursor })),
    [productKey, deviceName, state, severity, cursor],
  );
  const reload = useDebounced(() => alarms.reload(), 500);
  // Live: every product's alarm changes (a product's subscription carries its devices' messages).
  const products = useLoad(() => (productKey ? Promise.resolve([productKey]) : listAll<Product>('/products').then((l) => l.items.map((p) => p.productKey))), [productKey]);
  const keys = (products.data ?? []).join(',');
  useEffect(() => {
    const unsubscribe = (products.data ?? []).map((pk) =>
      subscribe(pk, deviceName, (m) => {
        if (m.type === 'alarm' || m.type === 'resync') reload();
      }),
    );
    return () => unsubscribe.forEach((u) => u());
  }, [keys, deviceName]);
  const [busy, setBusy] = useState<number | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const act = async (a: Alarm, verb: 'ack' | 'clear') => {
    setBusy(a.id);
    setActionError(null);
    try {
      await api('POST', `/alarms/${a.id}:${verb}`);
      alarms.reload();
    } catch (e) {
      setActionError(e instanceof ApiError && e.status === 403 ? new Error('Acknowledging and clearing need the operator role.') : e);
    } finally {
      setBusy(null);
    }
  };
  return (
    <section data-testid="alarms">
      <h2>
        Alarms
        {productKey && (
          <span class="muted">
            {' '}
            of {productKey}
            {deviceName ? `/${deviceName}` : ''}
          </span>
        )}
      </h2>
      <div class="toolbar">
        <label>
          State{' '}
          <select value={state} data-testid="alarm-state-filter" onChange={(e) => {
              setCursor(null);
              setState((e.target as HTMLSelectElement).value);
            }}>
            <option value="">all (open first)</option>
            <option value="open">open</option>
            <option value="active">active</option>
            <option value="acknowledged">acknowledged</option>
            <option value="cleared">cleared</option>
          </select>
        </label>{' '}
        <label>
          Severity{' '}
          <select value={severity} data-testid="alarm-severity-filter" onChange={(e) => {
              setCursor(null);
              setSeverity((e.target as HTMLSelectElement).value);
            }}>
            <option value="">any</option>
            <option value="critical">critical</option>
            <option value="major">major</option>
            <option value="minor">minor</option>
            <option value="info">info</option>
          </select>
        </label>
      </div>
      <ErrorBox error={alarms.error} />
      <ErrorBox error={actionError} testid="alarm-action-error" />
      <table class="grid" data-testid="alarm-list">
        <thead>
          <tr>
            <th>Severity</th>
            <th>State</th>
            <th>Rule</th>
            <th>Device</th>
            <th class="num">Count</th>
            <th>Raised</th>
            <th>Acknowledged</th>
            <th>Cleared</th>
            <th>Last value</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {alarms.data?.items.map((a) => (
            <tr data-testid={`alarm-${a.id}`} class={`alarm-${a.state}`}>
              <td>
                <span class={`badge sev-${a.severity}`} data-testid="alarm-severity">
                  {a.severity}
                </span>
              </td>
              <td>
                <span class={`badge al-${a.state}`} data-testid="alarm-state">
                  {a.state}
                </span>
              </td>
              <td>{a.rule}</td>
              <td>
                <Link href={devicePath(a.productKey, a.deviceName)}>
                  {a.productKey}/{a.deviceName}
                </Link>
              </td>
              <td class="num" data-testid="alarm-count">
                {a.count}
              </td>
              <td>{fmtTime(a.raisedAt)}</td>
              <td>{a.ackedAt ? `${fmtTime(a.ackedAt)} by ${a.ackedBy || '—'}` : '—'}</td>
              <td>{a.clearedAt ? `${fmtTime(a.clearedAt)} ${a.clearedBy ? `by ${a.clearedBy}` : '(condition)'}` : '—'}</td>
              <td>
                <Json value={a.lastValue} />
              </td>
              <td>
                {a.state === 'active' && (
                  <button class="small" disabled={busy === a.id} onClick={() => act(a, 'ack')} data-testid="alarm-ack">
                    Acknowledge
                  </button>
                )}{' '}
                {a.state !== 'cleared' && (
                  <button class="small" disabled={busy === a.id} onClick={() => act(a, 'clear')} data-testid="alarm-clear">
                    Clear
                  </button>
                )}
              </td>
            </tr>
          ))}
          {alarms.data && alarms.data.items.length === 0 && (
            <tr>
              <td colSpan={10} class="muted">
                No alarms.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {(cursor || alarms.data?.nextCursor) && (
        <div class="toolbar">
          {cursor && (
            <button class="small" onClick={() => setCursor(null)}>
              First page
            </button>
          )}{' '}
          {alarms.data?.nextCursor && (
            <button class="small" onClick={() => setCursor(alarms.data!.nextCursor)} data-testid="alarm-next">
              Next page
            </button>
          )}
        </div>
      )}
    </section>
  );
}

// The open alarms of a device as a badge linking to the alarm list; nothing when there are none.
export function AlarmBadge(props: { pk: string; dn: string }) {
  const open = useLoad(
    () => api<List<Alarm>>('GET', '/alarms' + qs({ productKey: props.pk, deviceName: props.dn, state: 'open', limit: 1000 })),
    [props.pk, props.dn],
  );
  const reload = useDebounced(() => open.reload(), 500);
  useStream(props.pk, props.dn, (m) => {
    if (m.type === 'alarm' || m.type === 'resync') reload();
  });
  const items = open.data?.items ?? [];
  if (items.length === 0) return null;
  const order: Severity[] = ['critical', 'major', 'minor', 'info'];
  const worst = order.find((s) => items.some((a) => a.severity === s)) ?? 'info';
  return (
    <Link href={'/alarms' + qs({ productKey: props.pk, deviceName: props.dn })} class={`badge sev-${worst}`} testid="device-alarm-badge">
      {items.length} open alarm{items.length === 1 ? '' : 's'}
    </Link>
  );
}
