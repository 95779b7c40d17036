// The fleet at a glance: devices online/offline/unactive/disabled per product (GET /overview, refreshed
// on status changes), messages and rejections per minute and the newest rejections, live from the stream.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, devicePath } from '../api';
import { ErrorBox, fmtTime, Link, useDebounced, useLoad } from '../components/ui';
import { subscribe, StreamMessage } from '../stream';

interface ProductCounts {
  productKey: string;
  name: string;
  online: number;
  offline: number;
  unactive: number;
  disabled: number;
}

interface SeenRejection {
  productKey: string;
  deviceName: string;
  time: number;
  text: string;
}

const WINDOW_MS = 60_000;

export function OverviewPage() {
  const overview = useLoad(() => api<{ products: ProductCounts[] }>('GET', '/overview'), []);
  const reload = useDebounced(() => overview.reload(), 1000);
  // Arrival times of messages and rejections per product over the last minute.
  const seen = useRef<Record<string, { messages: number[]; rejections: number[] }>>({});
  const [rejections, setRejections] = useState<SeenRejection[]>([]);
  const [, setTick] = useState(0);
  const keys = (overview.data?.products ?? []).map((p) => p.productKey).join(',');
  useEffect(() => {
    const unsubscribe = (overview.data?.products ?? []).map((p) =>
      subscribe(p.productKey, undefined, (m: StreamMessage) => {
        const now = Date.now();
        const s = (seen.current[m.productKey] ??= { messages: [], rejections: [] });
        if (m.type === 'property' || m.type === 'event') s.messages.push(now);
        if (m.type === 'rejection') {
          s.rejections.push(now);
          const data = (m.data ?? {}) as Record<string, unknown>;
          const text = [data.identifier, data.code, data.message].filter((x) => x !== undefined && x !== '').join(' ');
          setRejections((list) => [{ productKey: m.productKey, deviceName: m.deviceName, time: m.time ?? now, text }, ...list].slice(0, 20));
        }
        if (m.type === 'status' || m.type === 'resync') reload();
      }),
    );
    const timer = setInterval(() => setTick((t) => t + 1), 2000);
    return () => {
      unsubscribe.forEach((u) => u());
      clearInterval(timer);
    };
  }, [keys]);
  const perMinute = (pk: string, kind: 'messages' | 'rejections') => {
    const list = seen.current[pk]?.[kind] ?? [];
    const from = Date.now() - WINDOW_MS;
    while (list.length && list[0] < from) list.shift();
    return list.length;
  };
  return (
    <section data-testid="overview">
      <h2>Fleet overview</h2>
      <ErrorBox error={overview.error} />
      <table class="grid" data-testid="overview-products">
        <thead>
          <tr>
            <th>Product</th>
            <th>Online</th>
            <th>Offline</th>
            <th>Unactive</th>
            <th>Disabled</th>
            <th title="property and event posts in the last minute, since this page opened">Messages / min</th>
            <th title="refused items in the last minute, since this page opened">Rejections / min</th>
          </tr>
        </thead>
        <tbody>
          {overview.data?.products.map((p) => (
            <tr data-testid={`overview-${p.productKey}`}>
              <td>
                <Link href={`/products/${encodeURIComponent(p.productKey)}/devices`}>{p.name}</Link> <code class="muted">{p.productKey}</code>
              </td>
              <td data-testid="count-online">{p.online}</td>
              <td data-testid="count-offline">{p.offline}</td>
              <td data-testid="count-unactive">{p.unactive}</td>
              <td data-testid="count-disabled">{p.disabled}</td>
              <td data-testid="rate-messages">{perMinute(p.productKey, 'messages')}</td>
              <td data-testid="rate-rejections">{perMinute(p.productKey, 'rejections')}</td>
            </tr>
          ))}
          {overview.data && overview.data.products.length === 0 && (
            <tr>
              <td colSpan={7} class="muted">
                No products yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <h3>Newest rejections</h3>
      <table class="grid" data-testid="overview-rejections">
        <thead>
          <tr>
            <th>Time</th>
            <th>Device</th>
            <th>What</th>
          </tr>
        </thead>
        <tbody>
          {rejections.map((r) => (
            <tr>
              <td>{fmtTime(r.time)}</td>
              <td>
                <Link href={devicePath(r.productKey, r.deviceName)}>
                  {r.productKey}/{r.deviceName}
                </Link>
              </td>
              <td>{r.text}</td>
            </tr>
          ))}
          {rejections.length === 0 && (
            <tr>
              <td colSpan={3} class="muted">
                None since this page opened.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
