import { useEffect, useRef, useState } from 'preact/hooks';
import { api, devicePath } from '../api';
import { subscribe } from '../stream';
import { ErrorBox, Link, StatusBadge, useLoad } from './ui';

interface TopologyItem {
  productKey: string;
  deviceName: string;
  iotId: string;
  status: string;
}

// A gateway's sub-devices (its topology, GET .../topology) with their online state, kept live by the stream:
// the status messages of the sub-devices' products (a sub-device comes online when its gateway logs it in).
export function SubDevicesSection(props: { base: string }) {
  const [tick, setTick] = useState(0);
  const list = useLoad(() => api<{ items: TopologyItem[] }>('GET', `${props.base}/topology`), [props.base, tick]);
  const [live, setLive] = useState<Record<string, string>>({});
  const items = list.data?.items ?? [];
  const mine = useRef(new Set<string>());
  mine.current = new Set(items.map((s) => `${s.productKey}/${s.deviceName}`));
  const products = [...new Set(items.map((s) => s.productKey))].sort().join(',');
  useEffect(() => {
    setLive({});
    if (!products) return;
    // Subscribed per product for as long as the set of products stays; a status seen live wins over the list
    // (it is newer). The list is reloaded once a subscription is in effect: a sub-device that came online
    // between the first load and then would otherwise show its old state.
    const unsubscribe = products.split(',').map((pk) =>
      subscribe(pk, undefined, (m) => {
        const key = `${m.productKey}/${m.deviceName}`;
        if (m.type === 'status' && typeof m.data?.status === 'string' && mine.current.has(key)) {
          setLive((l) => ({ ...l, [key]: m.data.status }));
        } else if (m.type === 'resync' || m.type === 'subscribed') {
          setTick((t) => t + 1);
        }
      }),
    );
    return () => unsubscribe.forEach((u) => u());
  }, [products]);
  const online = items.filter((s) => (live[`${s.productKey}/${s.deviceName}`] ?? s.status) === 'online').length;
  return (
    <div class="card">
      <h3>
        Sub-devices{' '}
        {list.data && (
          <span class="muted" data-testid="subdevices-count">
            {online} of {items.length} online
          </span>
        )}
      </h3>
      <ErrorBox error={list.error} />
      <table class="grid" data-testid="subdevices">
        <thead>
          <tr>
            <th>Device</th>
            <th>Product</th>
            <th>Status</th>
          </tr>
        </thead>
        <tbody>
          {items.map((s) => (
            <tr data-testid={`sub-${s.deviceName}`}>
              <td>
                <Link href={devicePath(s.productKey, s.deviceName)}>{s.deviceName}</Link>
              </td>
              <td>
                <code>{s.productKey}</code>
              </td>
              <td>
                <StatusBadge status={live[`${s.productKey}/${s.deviceName}`] ?? s.status} />
              </td>
            </tr>
          ))}
          {list.data && items.length === 0 && (
            <tr>
              <td colSpan={3} class="muted">
                No sub-devices in this gateway's topology.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
