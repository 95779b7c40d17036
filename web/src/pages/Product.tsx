import { useState } from 'preact/hooks';
import { api, ApiError, Device, devicePath, DeviceStatus, listAll, Product } from '../api';
import { ErrorBox, fmtTime, Link, Modal, StatusBadge, useDebounced, useLoad } from '../components/ui';
import { useStream } from '../stream';
import { FirmwareTab } from './Firmware';
import { RemoteConfigTab } from './RemoteConfig';
import { ScriptTab } from './Script';
import { ThingModelTab } from './ThingModel';
import { ValidationSelect } from './Products';
import { ExportDevicesButton, ImportDevices, RegistrationSettings } from './Fleet';
import { BroadcastForm } from '../components/Messages';

function RegisterDevice(props: { pk: string; onClose: () => void; onCreated: () => void }) {
  const [deviceName, setDeviceName] = useState('');
  const [nickname, setNickname] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<Device | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const body: Record<string, string> = {};
    if (deviceName.trim()) body.deviceName = deviceName.trim();
    if (nickname.trim()) body.nickname = nickname.trim();
    try {
      setCreated(await api<Device>('POST', `/products/${encodeURIComponent(props.pk)}/devices`, body));
      props.onCreated();
    } catch (err) {
      setError(err);
    }
  };
  if (created) {
    return (
      <Modal title="Device registered" onClose={props.onClose} testid="device-secret">
        <p>
          Give these to the device. <strong>The secret is shown only now</strong>: the console will not show it again.
        </p>
        <dl class="kv">
          <dt>productKey</dt>
          <dd>
            <code>{created.productKey}</code>
          </dd>
          <dt>deviceName</dt>
          <dd>
            <code data-testid="new-device-name">{created.deviceName}</code>
          </dd>
          <dt>deviceSecret</dt>
          <dd>
            <code data-testid="new-device-secret">{created.deviceSecret}</code>{' '}
            <button class="link" onClick={() => navigator.clipboard?.writeText(created.deviceSecret ?? '')}>
              copy
            </button>
          </dd>
        </dl>
        <div class="actions">
          <button class="primary" onClick={props.onClose} data-testid="secret-done">
            I have saved the secret
          </button>
        </div>
      </Modal>
    );
  }
  const fieldErrors = error instanceof ApiError ? error.errors : [];
  return (
    <Modal title="Register a device" onClose={props.onClose} testid="register-device">
      <form onSubmit={submit} class="form">
        <label>
          Device name <input name="deviceName" value={deviceName} onInput={(e) => setDeviceName((e.target as HTMLInputElement).value)} placeholder="generated when empty" pattern="[A-Za-z0-9_@.:\-]{4,32}" title="4–32 of letters, digits and -_@.:" />
          {fieldErrors
            .filter((x) => x.path === '/deviceName')
            .map((x) => (
              <span class="field-error">{x.message}</span>
            ))}
        </label>
        <label>
          Nickname <input name="nickname" value={nickname} onInput={(e) => setNickname((e.target as HTMLInputElement).value)} />
        </label>
        <ErrorBox error={error} />
        <div class="actions">
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" class="primary">
            Register
          </button>
        </div>
      </form>
    </Modal>
  );
}

function DevicesTab(props: { product: Product; onChanged: () => void }) {
  const pk = props.product.productKey;
  const [status, setStatus] = useState('');
  const [search, setSearch] = useState('');
  const [tag, setTag] = useState('');
  const [registering, setRegistering] = useState(false);
  const [actionError, setActionError] = useState<unknown>(null);
  const list = useLoad(() => listAll<Device>(`/products/${encodeURIComponent(pk)}/devices`, { status, search, tag }), [pk, status, search, tag]);
  const [importing, setImporting] = useState(false);
  const [live, setLive] = useState<Record<string, DeviceStatus>>({});
  const reload = useDebounced(() => {
    setLive({});
    list.reload();
  }, 300);
  useStream(pk, undefined, (m) => {
    if (m.type === 'status') {
      const s = m.data?.status;
      if (typeof s === 'string') setLive((l) => ({ ...l, [m.deviceName]: s as DeviceStatus }));
      reload();
    } else if (m.type === 'resync' || m.type === 'subscribed') reload();
  });
  const act = async (fn: () => Promise<unknown>) => {
    setActionError(null);
    try {
      await fn();
      list.reload();
      props.onChanged();
    } catch (e) {
      setActionError(e);
    }
  };
  return (
    <div>
      <div class="toolbar">
        <label>
          Status{' '}
          <select value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)} data-testid="status-filter">
            <option value="">any</option>
            <option value="online">online</option>
            <option value="offline">offline</option>
            <option value="unactive">unactive</option>
            <option value="disabled">disabled</option>
          </select>
        </label>
        <input type="search" placeholder="name or nickname" aria-label="Search" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} data-testid="device-search" />
        <input placeholder="tag key:value" aria-label="Tag" value={tag} onChange={(e) => setTag((e.target as HTMLInputElement).value)} />
        <span class="spacer" />
        <ExportDevicesButton pk={pk} />
        <button onClick={() => setImporting(true)} data-testid="import-devices">
          Import devices
        </button>
        <button class="primary" onClick={() => setRegistering(true)} data-testid="register">
          Register device
        </button>
      </div>
      <ErrorBox error={list.error ?? actionError} />
      <table class="grid" data-testid="devices">
        <thead>
          <tr>
            <th>Device</th>
            <th>Nickname</th>
            <th>Status</th>
            <th>Last online</th>
            <th>IP address</th>
            <th>Tags</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.data?.items.map((d) => {
            const st = live[d.deviceName] ?? d.status;
            return (
              <tr data-testid={`device-${d.deviceName}`}>
                <td>
                  <Link href={devicePath(pk, d.deviceName)}>{d.deviceName}</Link>
                </td>
                <td>{d.nickname}</td>
                <td>
                  <StatusBadge status={st} />
                </td>
                <td>{fmtTime(d.lastOnlineAt)}</td>
                <td>{d.ipAddress ?? '—'}</td>
                <td>
                  {Object.entries(d.tags ?? {}).map(([k, v]) => (
                    <span class="tag">
                      {k}:{v}
                    </span>
                  ))}
                </td>
                <td>
                  <div class="actions">
                  <button class="small" data-testid="toggle-enabled" onClick={() => act(() => api('PATCH', devicePath(pk, d.deviceName), { enabled: !d.enabled }))}>
                    {d.enabled ? 'Disable' : 'Enable'}
                  </button>
                  <button
                    class="small danger"
                    data-testid="delete-device"
                    onClick={() => confirm(`Delete device ${d.deviceName} and all its data?`) && act(() => api('DELETE', devicePath(pk, d.deviceName)))}
                  >
                    Delete
                  </button>
                  </div>
                </td>
              </tr>
            );
          })}
          {list.data && list.data.items.length === 0 && (
            <tr>
              <td colSpan={7} class="muted">
                No devices{status || search || tag ? ' match the filters' : ' yet'}.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {importing && <ImportDevices pk={pk} onClose={() => setImporting(false)} onImported={() => (list.reload(), props.onChanged())} />}
      {registering && <RegisterDevice pk={pk} onClose={() => setRegistering(false)} onCreated={() => (list.reload(), props.onChanged())} />}
    </div>
  );
}

export function ProductPage(props: { pk: string; tab: string }) {
  const { pk } = props;
  const product = useLoad(() => api<Product>('GET', `/products/${encodeURIComponent(pk)}`), [pk]);
  const p = product.data;
  const tab =
    props.tab === 'devices' || props.tab === 'config' || props.tab === 'firmware' ? props.tab : props.tab === 'script' && p?.dataFormat === 'raw' ? 'script' : 'model';
  return (
    <section>
      <div class="crumbs">
        <Link href="/products">Products</Link> / <span>{p?.name ?? pk}</span>
      </div>
      <ErrorBox error={product.error} />
      {p && (
        <>
          <div class="page-head">
            <h2>
              {p.name} <code class="muted">{p.productKey}</code>
            </h2>
            <div class="facts">
              <span>node type {p.nodeType}</span>
              <span>
                validation <ValidationSelect product={p} onChanged={product.reload} />
              </span>
              <span>retention {p.retentionDays} d</span>
              <span data-testid="data-format">data {p.dataFormat === 'raw' ? 'raw (script)' : 'Alink JSON'}</span>
              <span>model {p.thingModelVersion === null ? 'not published' : `v${p.thingModelVersion}`}</span>
            </div>
          </div>
          {p.description && <p class="muted">{p.description}</p>}
          <RegistrationSettings product={p} onChanged={product.reload} />
          <BroadcastForm pk={pk} />
          <div class="tabs" role="tablist">
            <Link href={`/products/${encodeURIComponent(pk)}/model`} class={tab === 'model' ? 'active' : ''} testid="tab-model">
              Thing model
            </Link>
            <Link href={`/products/${encodeURIComponent(pk)}/devices`} class={tab === 'devices' ? 'active' : ''} testid="tab-devices">
              Devices ({p.deviceCount})
            </Link>
            {p.dataFormat === 'raw' && (
              <Link href={`/products/${encodeURIComponent(pk)}/script`} class={tab === 'script' ? 'active' : ''} testid="tab-script">
                Parsing script
              </Link>
            )}
            <Link href={`/products/${encodeURIComponent(pk)}/config`} class={tab === 'config' ? 'active' : ''} testid="tab-config">
              Remote config
            </Link>
            <Link href={`/products/${encodeURIComponent(pk)}/firmware`} class={tab === 'firmware' ? 'active' : ''} testid="tab-firmware">
              Firmware (OTA)
            </Link>
          </div>
          {tab === 'model' ? (
            <ThingModelTab product={p} onChanged={product.reload} />
          ) : tab === 'script' ? (
            <ScriptTab product={p} onChanged={product.reload} />
          ) : tab === 'config' ? (
            <RemoteConfigTab product={p} onChanged={product.reload} />
          ) : tab === 'firmware' ? (
            <FirmwareTab product={p} />
          ) : (
            <DevicesTab product={p} onChanged={product.reload} />
          )}
        </>
      )}
    </section>
  );
}
