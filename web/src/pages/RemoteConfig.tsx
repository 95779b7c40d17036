import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, Product } from '../api';
import { JsonEditor, placeErrors } from '../components/JsonEditor';
import { ErrorBox, fmtTime, useLoad } from '../components/ui';

// The product's remote configuration (Alink thing.config.get / push): the switch, the current file
// (edit or upload a new version), the kept versions and a push to the online devices.
export interface ConfigInfo {
  configId: string;
  productKey: string;
  version: number;
  size: number;
  sha256: string;
  createdAt: number;
  createdBy: string;
}
interface ConfigCurrent extends ConfigInfo {
  remoteConfig: boolean;
  url: string;
  content: unknown;
}
interface PushResult {
  configId: string;
  version: number;
  devices: number;
  failed: number;
  truncated: boolean;
}

const MAX_BYTES = 65536;

export function RemoteConfigTab(props: { product: Product; onChanged: () => void }) {
  const p = props.product;
  const path = `/products/${encodeURIComponent(p.productKey)}`;
  const current = useLoad(
    () =>
      api<ConfigCurrent>('GET', `${path}/config`).catch((e) => {
        if (e instanceof ApiError && e.status === 404) return null;
        throw e;
      }),
    [p.productKey],
  );
  const versions = useLoad(() => api<{ items: ConfigInfo[] }>('GET', `${path}/config/versions`), [p.productKey]);
  const [text, setText] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  useEffect(() => {
    if (current.data) setText(JSON.stringify(current.data.content, null, 2));
  }, [current.data?.configId]);

  const act = async (fn: () => Promise<string>) => {
    setError(null);
    setNotice('');
    try {
      setNotice(await fn());
      current.reload();
      versions.reload();
      props.onChanged();
    } catch (err) {
      setError(err);
    }
  };
  const bytes = new TextEncoder().encode(text).length;
  const save = () =>
    act(async () => {
      const saved = await api<ConfigInfo>('PUT', `${path}/config`, text);
      return `Saved as version ${saved.version} (${saved.size} bytes).`;
    });
  const upload = (e: Event) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (file) file.text().then(setText);
  };
  const push = () =>
    act(async () => {
      const r = await api<PushResult>('POST', `${path}/config:push`);
      return `Version ${r.version} pushed to ${r.devices} online device(s)${r.failed ? `, ${r.failed} failed` : ''}${r.truncated ? ' (truncated)' : ''}.`;
    });
  const fieldErrors = error instanceof ApiError ? placeErrors(text, error.errors) : [];

  return (
    <div data-testid="remote-config">
      <div class="facts">
        <label>
          <input
            type="checkbox"
            checked={p.remoteConfig}
            onChange={(e) => {
              const on = (e.target as HTMLInputElement).checked;
              act(async () => {
                await api('PATCH', path, { remoteConfig: on });
                return on ? 'Remote configuration switched on.' : 'Remote configuration switched off.';
              });
            }}
            data-testid="remote-config-switch"
          />{' '}
          remote configuration (devices get the file with thing.config.get; off: 6713)
        </label>
        {current.data && (
          <span data-testid="config-current">
            current v{current.data.version}, {current.data.size} bytes, sha256 <code>{current.data.sha256.slice(0, 12)}…</code>{' '}
            <a href={current.data.url} target="_blank" rel="noreferrer">
              download
            </a>
          </span>
        )}
        {current.data === null && <span class="muted">no configuration file yet (devices get 6710)</span>}
      </div>
      <ErrorBox error={current.error} />
      <JsonEditor value={text} onInput={setText} errors={fieldErrors} testid="config-editor" label="Configuration JSON" />
      <div class="actions">
        <span class={bytes > MAX_BYTES ? 'field-error' : 'muted'}>
          {bytes} / {MAX_BYTES} bytes
        </span>
        <label class="button">
          Load a file… <input type="file" accept=".json,application/json" onChange={upload} hidden data-testid="config-file" />
        </label>
        <button class="primary" onClick={save} disabled={!text.trim() || bytes > MAX_BYTES} data-testid="config-save">
          Save as new version
        </button>
        <button onClick={push} disabled={!current.data || !p.remoteConfig} data-testid="config-push" title={p.remoteConfig ? '' : 'switch remote configuration on first'}>
          Push to online devices
        </button>
      </div>
      {notice && (
        <p class="muted" data-testid="config-notice">
          {notice}
        </p>
      )}
      <ErrorBox error={error} />
      <h3>Versions</h3>
      <ErrorBox error={versions.error} />
      <table data-testid="config-versions">
        <thead>
          <tr>
            <th>Version</th>
            <th>configId</th>
            <th>Size</th>
            <th>SHA-256</th>
            <th>Uploaded</th>
            <th>By</th>
          </tr>
        </thead>
        <tbody>
          {versions.data?.items.map((v) => (
            <tr>
              <td>v{v.version}</td>
              <td>
                <code>{v.configId}</code>
              </td>
              <td>{v.size}</td>
              <td>
                <code>{v.sha256.slice(0, 16)}…</code>
              </td>
              <td>{fmtTime(v.createdAt)}</td>
              <td>{v.createdBy}</td>
            </tr>
          ))}
          {versions.data && versions.data.items.length === 0 && (
            <tr>
              <td colSpan={6} class="muted">
                No versions yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
