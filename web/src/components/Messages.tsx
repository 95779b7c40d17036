// Custom topics on the device page (messages both ways, send, custom RRPC) and the product's broadcast
// form. REST: POST/GET .../devices/{dn}/messages, POST .../devices/{dn}/rrpc, POST .../broadcast.
import { useState } from 'preact/hooks';
import { api, devicePath, List, qs } from '../api';
import { ErrorBox, fmtTime, StatusBadge, useLoad } from './ui';

export interface MessagePayload {
  payload: string;
  encoding: 'text' | 'base64';
}
export interface DeviceMessage extends MessagePayload {
  id: string;
  direction: 'up' | 'down';
  kind: 'message' | 'rrpc';
  topic: string;
  qos: number;
  status: string;
  message: string | null;
  requestedBy: string | null;
  time: number;
  sentAt: number | null;
  expiresAt: number | null;
  reply: MessagePayload | null;
}
interface RrpcResult extends MessagePayload {
  rrpcCode: string;
  message: DeviceMessage;
}

function Payload(props: { value: MessagePayload }) {
  return (
    <code class="payload">
      {props.value.encoding === 'base64' ? <span class="muted">base64 </span> : null}
      {props.value.payload.length > 200 ? props.value.payload.slice(0, 200) + '…' : props.value.payload}
    </code>
  );
}

// Topic, payload and encoding fields shared by the three forms.
function useMessageFields(initialTopic: string) {
  const [topic, setTopic] = useState(initialTopic);
  const [payload, setPayload] = useState('');
  const [encoding, setEncoding] = useState<'text' | 'base64'>('text');
  const fields = (prefix: string, testid: string) => (
    <>
      <label>
        topic <span class="muted">{prefix}</span>
        <input value={topic} onInput={(e) => setTopic((e.target as HTMLInputElement).value)} data-testid={`${testid}-topic`} />
      </label>
      <label>
        payload
        <input value={payload} onInput={(e) => setPayload((e.target as HTMLInputElement).value)} data-testid={`${testid}-payload`} />
      </label>
      <select value={encoding} onChange={(e) => setEncoding((e.target as HTMLSelectElement).value as 'text' | 'base64')} data-testid={`${testid}-encoding`}>
        <option value="text">text</option>
        <option value="base64">base64</option>
      </select>
    </>
  );
  return { topic, payload, encoding, fields };
}

export function DeviceMessages(props: { pk: string; dn: string }) {
  const base = devicePath(props.pk, props.dn);
  const [direction, setDirection] = useState('');
  const [tick, setTick] = useState(0);
  const [pages, setPages] = useState(1);
  const list = useLoad(async () => {
    const items: DeviceMessage[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < pages; i++) {
      const page: List<DeviceMessage> = await api<List<DeviceMessage>>('GET', `${base}/messages${qs({ direction: direction || undefined, limit: 20, cursor })}`);
      items.push(...page.items);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    return { items, nextCursor: cursor };
  }, [base, direction, tick, pages]);

  const send = useMessageFields('');
  const [qos, setQos] = useState(0);
  const [sendError, setSendError] = useState<unknown>(null);
  const [sent, setSent] = useState<DeviceMessage | null>(null);
  const submitSend = async (e: Event) => {
    e.preventDefault();
    setSendError(null);
    try {
      setSent(await api<DeviceMessage>('POST', `${base}/messages`, { topic: `user/${send.topic}`, payload: send.payload, encoding: send.encoding, qos }));
      setTick((t) => t + 1);
    } catch (err) {
      setSendError(err);
    }
  };

  const rrpc = useMessageFields('');
  const [timeoutMs, setTimeoutMs] = useState(5000);
  const [rrpcError, setRrpcError] = useState<unknown>(null);
  const [answer, setAnswer] = useState<RrpcResult | null>(null);
  const [waiting, setWaiting] = useState(false);
  const submitRrpc = async (e: Event) => {
    e.preventDefault();
    setRrpcError(null);
    setAnswer(null);
    setWaiting(true);
    try {
      setAnswer(await api<RrpcResult>('POST', `${base}/rrpc`, { topic: `user/${rrpc.topic}`, payload: rrpc.payload, encoding: rrpc.encoding, timeoutMs }));
    } catch (err) {
      setRrpcError(err);
    } finally {
      setWaiting(false);
      setTick((t) => t + 1);
    }
  };

  return (
    <div class="card" data-testid="device-messages">
      <h3>Messages (custom topics)</h3>
      <form class="inline-form" onSubmit={submitSend} data-testid="send-message">
        {send.fields(`/${props.pk}/${props.dn}/user/`, 'message')}
        <select value={qos} onChange={(e) => setQos(Number((e.target as HTMLSelectElement).value))} data-testid="message-qos">
          <option value={0}>QoS 0</option>
          <option value={1}>QoS 1 (kept while offline)</option>
        </select>
        <button type="submit">Send</button>
      </form>
      <ErrorBox error={sendError} testid="send-message-error" />
      {sent && (
        <p class="muted" data-testid="message-sent">
          <StatusBadge status={sent.status} /> {sent.topic}
        </p>
      )}
      <form class="inline-form" onSubmit={submitRrpc} data-testid="send-rrpc">
        {rrpc.fields('RRPC on user/', 'rrpc')}
        <label>
          timeout ms
          <input type="number" min={1000} max={8000} value={timeoutMs} onInput={(e) => setTimeoutMs(Number((e.target as HTMLInputElement).value))} />
        </label>
        <button type="submit" disabled={waiting}>
          {waiting ? 'Waiting…' : 'Call'}
        </button>
      </form>
      <ErrorBox error={rrpcError} testid="rrpc-error" />
      {answer && (
        <p data-testid="rrpc-answer">
          <StatusBadge status={answer.rrpcCode} /> <Payload value={answer} />
        </p>
      )}
      <div class="toolbar">
        <select value={direction} onChange={(e) => setDirection((e.target as HTMLSelectElement).value)} data-testid="message-direction">
          <option value="">both directions</option>
          <option value="up">from the device</option>
          <option value="down">to the device</option>
        </select>
        <button class="small" onClick={() => setTick((t) => t + 1)}>
          Refresh
        </button>
      </div>
      <ErrorBox error={list.error} />
      <table class="grid" data-testid="messages">
        <thead>
          <tr>
            <th>Time</th>
            <th>Dir</th>
            <th>Topic</th>
            <th>Payload</th>
            <th>Status</th>
          </tr>
        </thead>
        <tbody>
          {list.data?.items.map((m) => (
            <tr>
              <td>{fmtTime(m.time)}</td>
              <td>{m.direction === 'up' ? '↑' : '↓'}</td>
              <td>
                <code>{m.topic}</code> {m.kind === 'rrpc' ? <span class="badge">rrpc</span> : m.qos === 1 ? <span class="muted">QoS 1</span> : null}
              </td>
              <td>
                <Payload value={m} />
                {m.reply && (
                  <div>
                    <span class="muted">answer </span>
                    <Payload value={m.reply} />
                  </div>
                )}
              </td>
              <td>
                <StatusBadge status={m.status} />
                {m.message ? <span class="muted"> {m.message}</span> : null}
              </td>
            </tr>
          ))}
          {list.data && list.data.items.length === 0 && (
            <tr>
              <td colSpan={5} class="muted">
                No messages.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {list.data?.nextCursor && (
        <button class="small" onClick={() => setPages((n) => n + 1)} data-testid="older-messages">
          Load older
        </button>
      )}
    </div>
  );
}

export function BroadcastForm(props: { pk: string }) {
  const f = useMessageFields('');
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setDone(null);
    try {
      const r = await api<{ topic: string }>('POST', `/products/${encodeURIComponent(props.pk)}/broadcast`, { topic: f.topic, payload: f.payload, encoding: f.encoding });
      setDone(r.topic);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div class="card" data-testid="broadcast">
      <h3>Broadcast</h3>
      <p class="muted">To every device of the product subscribed to the topic (at most one broadcast per second).</p>
      <form class="inline-form" onSubmit={submit}>
        {f.fields(`/broadcast/${props.pk}/`, 'broadcast')}
        <button type="submit">Broadcast</button>
      </form>
      <ErrorBox error={error} testid="broadcast-error" />
      {done && (
        <p class="muted" data-testid="broadcast-done">
          sent on <code>{done}</code>
        </p>
      )}
    </div>
  );
}
