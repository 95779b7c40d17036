// Forwarding rules (admin, /api/v1/rules): the list with each rule's delivery status (delivered, failed,
// lag, dead letters, last error; refreshed every 5 s), creating a rule (source, filter, one destination:
// webhook, AMQP or MQTT), enabling and disabling, deleting, and a rule's dead letters with replay.
import { useEffect, useState } from 'preact/hooks';
import { api, List } from '../api';
import { ErrorBox, fmtTime, Json, Modal, useLoad } from '../components/ui';

interface Destination {
  type: 'webhook' | 'amqp' | 'mqtt';
  url: string;
  exchange?: string;
  topic?: string;
  username?: string;
  ca?: string;
  hasSecret?: boolean;
}

interface Rule {
  id: number;
  name: string;
  enabled: boolean;
  source: { productKey: string | null; kinds: string[] };
  filter: string | null;
  destinations: Destination[];
  includeDeviceSecret: boolean;
  createdAt: number;
}

interface RuleStatus {
  delivered: number;
  failed: number;
  deadLettered: number;
  deadLetters: number;
  attempts: number;
  lastError: string | null;
  lastDeliveredAt: number | null;
  lagMessages: number;
  lagSeconds: number;
}

interface DeadLetter {
  id: number;
  messageId: string;
  kind: string;
  topic: string;
  deviceName: string;
  payload: unknown;
  attempts: number;
  error: string;
  deadAt: number;
}

const KINDS = ['property', 'event', 'history', 'status', 'reply', 'message', 'alarm', 'ota', 'lifecycle'];
// Written by the database, which evaluates no filter (docs/FORWARDING.md).
const UNFILTERED = ['alarm', 'ota', 'lifecycle'];

function destinationText(d: Destination): string {
  const ca = d.ca ? ' (own CA)' : '';
  if (d.type === 'amqp') return `AMQP ${d.url} → exchange ${d.exchange ?? ''}${ca}`;
  if (d.type === 'mqtt') return `MQTT ${d.url} → ${d.topic ?? ''}${ca}`;
  return `webhook ${d.url}${d.hasSecret ? ' (signed)' : ''}`;
}

function CreateRule(props: { onClose: () => void; onCreated: () => void }) {
  const [name, setName] = useState('');
  const [productKey, setProductKey] = useState('');
  const [kinds, setKinds] = useState<string[]>(['property']);
  const [filter, setFilter] = useState('');
  const [type, setType] = useState<Destination['type']>('webhook');
  const [url, setUrl] = useState('');
  const [secret, setSecret] = useState('');
  const [exchange, setExchange] = useState('');
  const [topic, setTopic] = useState('');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [withSecret, setWithSecret] = useState(false);
  const [ca, setCa] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const text = (set: (v: string) => void) => (e: Event) => set((e.target as HTMLInputElement).value);
  const submit = async (e: Event) => {
    e.preventDefault();
    const destination: Record<string, string> = { type, url: url.trim() };
    if (type === 'webhook' && secret) destination.secret = secret;
    if (type === 'amqp') destination.exchange = exchange.trim();
    if (type !== 'webhook' && ca.trim()) destination.ca = ca.trim() + '\n';
    if (type === 'mqtt') {
      destination.topic = topic.trim();
      if (username) destination.username = username;
      if (password) destination.password = password;
    }
    setBusy(true);
    setError(null);
    try {
      await api('POST', '/rules', {
        name: name.trim(),
        source: { productKey: productKey.trim() || null, kinds },
        filter: filter.trim() || null,
        includeDeviceSecret: kinds.includes('lifecycle') && withSecret,
        destinations: [destination],
      });
      props.onCreated();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal title="New forwarding rule" onClose={props.onClose} testid="create-rule">
      <form onSubmit={submit} class="form">
        <label>
          Name
          <input value={name} onInput={text(setName)} required maxLength={128} />
        </label>
        <label>
          Product key <span class="muted">(empty: every product)</span>
          <input value={productKey} onInput={text(setProductKey)} />
        </label>
        <fieldset>
          <legend>Kinds</legend>
          {KINDS.map((k) => (
            <label class="inline">
              <input
                type="checkbox"
                checked={kinds.includes(k)}
                onChange={(e) => setKinds((list) => ((e.target as HTMLInputElement).checked ? [...list, k] : list.filter((x) => x !== k)))}
              />{' '}
              {k}
            </label>
          ))}
        </fieldset>
        {kinds.includes('lifecycle') && (
          <label class="inline">
            <input type="checkbox" checked={withSecret} onChange={(e) => setWithSecret((e.target as HTMLInputElement).checked)} data-testid="rule-with-secret" />{' '}
            create messages carry the device&apos;s deviceSecret <span class="muted">(whoever reads the destination can connect as the device)</span>
          </label>
        )}
        <label>
          Filter{' '}
          <span class="muted">
            {kinds.some((k) => UNFILTERED.includes(k))
              ? '(none for alarm, ota and lifecycle)'
              : '(e.g. Temp > 40 && Humidity < 20; empty: every message)'}
          </span>
          <input value={filter} onInput={text(setFilter)} />
        </label>
        <label>
          Destination
          <select value={type} onChange={(e) => setType((e.target as HTMLSelectElement).value as Destination['type'])}>
            <option value="webhook">Webhook (HTTP POST, signed)</option>
            <option value="amqp">AMQP 0-9-1 (RabbitMQ)</option>
            <option value="mqtt">MQTT</option>
          </select>
        </label>
        <label>
          URL{' '}
          <span class="muted">
            {type === 'webhook' ? 'https://apps.example/iot' : type === 'amqp' ? 'amqp://user:password@host:5672/vhost' : 'mqtt://host:1883 or mqtts://host:8883'}
          </span>
          <input value={url} onInput={text(setUrl)} required />
        </label>
        {type === 'webhook' && (
          <label>
            Secret <span class="muted">(signs each batch: X-Iot-Signature)</span>
            <input type="password" autoComplete="off" value={secret} onInput={text(setSecret)} />
          </label>
        )}
        {type === 'amqp' && (
          <label>
            Exchange
            <input value={exchange} onInput={text(setExchange)} required />
          </label>
        )}
        {type === 'mqtt' && (
          <>
            <label>
              Topic
              <input value={topic} onInput={text(setTopic)} required />
            </label>
            <label>
              Username
              <input value={username} onInput={text(setUsername)} autoComplete="off" />
            </label>
            <label>
              Password
              <input type="password" value={password} onInput={text(setPassword)} autoComplete="off" />
            </label>
          </>
        )}
        {type !== 'webhook' && /^(amqps|mqtts):\/\//.test(url.trim()) && (
          <label>
            CA certificates <span class="muted">(PEM, for a broker with a private CA; empty: the system&apos;s CAs)</span>
            <textarea rows={4} value={ca} onInput={(e) => setCa((e.target as HTMLTextAreaElement).value)} />
          </label>
        )}
        <ErrorBox error={error} testid="create-rule-error" />
        <button type="submit" class="primary" disabled={busy || !name.trim() || kinds.length === 0}>
          Create
        </button>
      </form>
    </Modal>
  );
}

function DeadLetters(props: { rule: Rule; onClose: () => void; onChanged: () => void }) {
  const letters = useLoad(() => api<List<DeadLetter>>('GET', `/rules/${props.rule.id}/dead-letters?limit=100`), [props.rule.id]);
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState('');
  const replay = async (ids?: number[]) => {
    setError(null);
    try {
      const r = await api<{ replayed: number }>('POST', `/rules/${props.rule.id}/dead-letters:replay`, ids ? { ids } : {});
      setNote(`${r.replayed} replayed`);
      letters.reload();
      props.onChanged();
    } catch (err) {
      setError(err);
    }
  };
  const items = letters.data?.items ?? [];
  return (
    <Modal title={`Dead letters of “${props.rule.name}”`} onClose={props.onClose} testid="dead-letters">
      <ErrorBox error={letters.error ?? error} />
      {note && <p data-testid="replay-note">{note}</p>}
      {items.length === 0 ? (
        <p class="muted" data-testid="no-dead-letters">
          No dead letters.
        </p>
      ) : (
        <>
          <button onClick={() => replay()} data-testid="replay-all">
            Replay all
          </button>
          <table class="grid">
            <thead>
              <tr>
                <th>Dead since</th>
                <th>Topic</th>
                <th>Attempts</th>
                <th>Error</th>
                <th>Payload</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {items.map((d) => (
                <tr data-testid={`dead-letter-${d.id}`}>
                  <td>{fmtTime(d.deadAt)}</td>
                  <td>
                    <code>{d.topic}</code>
                  </td>
                  <td>{d.attempts}</td>
                  <td>{d.error}</td>
                  <td>
                    <Json value={d.payload} />
                  </td>
                  <td>
                    <button onClick={() => replay([d.id])}>Replay</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </Modal>
  );
}

export function RulesPage() {
  const rules = useLoad(() => api<List<Rule>>('GET', '/rules'), []);
  const [statuses, setStatuses] = useState<Record<number, RuleStatus>>({});
  const [creating, setCreating] = useState(false);
  const [letters, setLetters] = useState<Rule | null>(null);
  const [error, setError] = useState<unknown>(null);
  const ids = (rules.data?.items ?? []).map((r) => r.id).join(',');
  const loadStatuses = async () => {
    const list = rules.data?.items ?? [];
    const next: Record<number, RuleStatus> = {};
    await Promise.all(
      list.map(async (r) => {
        try {
          next[r.id] = await api<RuleStatus>('GET', `/rules/${r.id}/status`);
        } catch {
          // deleted meanwhile: the list reload drops it
        }
      }),
    );
    setStatuses(next);
  };
  useEffect(() => {
    loadStatuses();
    const timer = setInterval(loadStatuses, 5000);
    return () => clearInterval(timer);
  }, [ids]);
  const act = async (fn: () => Promise<unknown>) => {
    setError(null);
    try {
      await fn();
      rules.reload();
    } catch (err) {
      setError(err);
    }
  };
  const items = rules.data?.items ?? [];
  return (
    <section data-testid="rules">
      <div class="toolbar">
        <h2>Forwarding rules</h2>
        <span class="spacer" />
        <button class="primary" onClick={() => setCreating(true)} data-testid="new-rule">
          New rule
        </button>
      </div>
      <p class="muted">
        What devices send, delivered to applications at least once and per device in order: webhooks, AMQP exchanges, MQTT topics.
      </p>
      <ErrorBox error={rules.error ?? error} />
      {rules.data && items.length === 0 && (
        <p class="muted" data-testid="no-rules">
          No rules yet.
        </p>
      )}
      {items.length > 0 && (
        <table class="grid" data-testid="rules-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Source</th>
              <th>Filter</th>
              <th>Destinations</th>
              <th title="messages delivered / failed attempts">Delivered / failed</th>
              <th title="messages waiting, age of the oldest">Lag</th>
              <th>Dead letters</th>
              <th>Last error</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {items.map((r) => {
              const s = statuses[r.id];
              return (
                <tr data-testid={`rule-${r.name}`}>
                  <td>
                    {r.name} {!r.enabled && <span class="badge st-disabled">disabled</span>}
                  </td>
                  <td>
                    {r.source.productKey ?? 'every product'}: {r.source.kinds.join(', ')}
                    {r.includeDeviceSecret && <span class="muted"> (with deviceSecret)</span>}
                  </td>
                  <td>{r.filter ? <code>{r.filter}</code> : <span class="muted">—</span>}</td>
                  <td>
                    {r.destinations.map((d) => (
                      <div>{destinationText(d)}</div>
                    ))}
                  </td>
                  <td data-testid="rule-delivered">{s ? `${s.delivered} / ${s.failed}` : '…'}</td>
                  <td data-testid="rule-lag">{s ? `${s.lagMessages} (${s.lagSeconds.toFixed(1)} s)` : '…'}</td>
                  <td>
                    <button class="link" onClick={() => setLetters(r)} data-testid="rule-dead-letters">
                      {s ? s.deadLetters : '…'}
                    </button>
                  </td>
                  <td class="muted">{s?.lastError ?? '—'}</td>
                  <td>
                    <button onClick={() => act(() => api('PATCH', `/rules/${r.id}`, { enabled: !r.enabled }))} data-testid="rule-toggle">
                      {r.enabled ? 'Disable' : 'Enable'}
                    </button>{' '}
                    <button
                      class="danger"
                      onClick={() => confirm(`Delete the rule “${r.name}” with its waiting messages and dead letters?`) && act(() => api('DELETE', `/rules/${r.id}`))}
                      data-testid="rule-delete"
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {creating && (
        <CreateRule
          onClose={() => setCreating(false)}
          onCreated={() => {
            setCreating(false);
            rules.reload();
          }}
        />
      )}
      {letters && <DeadLetters rule={letters} onClose={() => setLetters(null)} onChanged={loadStatuses} />}
    </section>
  );
}
