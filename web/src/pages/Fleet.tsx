// Bringing a fleet in: import devices with their existing secrets (CSV from Alibaba's console, or pasted),
// export a product's credentials as CSV, and the product's dynamic registration (productSecret, switch).
import { useState } from 'preact/hooks';
import { api, ApiError, apiText, Device, List, Product } from '../api';
import { ErrorBox, Modal } from '../components/ui';

export function ImportDevices(props: { pk: string; onClose: () => void; onImported: () => void }) {
  const [text, setText] = useState('DeviceName,DeviceSecret,Nickname\n');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [count, setCount] = useState<number | null>(null);
  const onFile = async (e: Event) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (file) setText(await file.text());
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const answer = await apiText('POST', `/products/${encodeURIComponent(props.pk)}/devices:import`, text, 'text/csv');
      setCount((JSON.parse(answer) as List<Device>).items.length);
      props.onImported();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const problems = error instanceof ApiError ? error.errors : [];
  return (
    <Modal title="Import devices" onClose={props.onClose} testid="import-dialog">
      {count !== null ? (
        <>
          <p data-testid="import-done">{count} devices imported with their secrets.</p>
          <div class="actions">
            <button class="primary" onClick={props.onClose} data-testid="import-close">
              Close
            </button>
          </div>
        </>
      ) : (
        <form onSubmit={submit} class="form">
          <p class="muted">
            CSV with a header naming DeviceName and DeviceSecret (any case; optional Nickname, IotId, ProductKey), as Alibaba's console exports it.
            Up to 10,000 rows; all or nothing.
          </p>
          <label>
            File <input type="file" accept=".csv,text/csv" onChange={onFile} data-testid="import-file" />
          </label>
          <label>
            CSV
            <textarea rows={10} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} data-testid="import-text" />
          </label>
          <ErrorBox error={error} />
          {problems.length > 0 && (
            <ul class="problems" data-testid="import-problems">
              {problems.slice(0, 50).map((p) => (
                <li>
                  <code>{p.path.replace(/^\/lines\//, 'line ')}</code> {p.message}
                </li>
              ))}
              {problems.length > 50 && <li>… {problems.length - 50} more</li>}
            </ul>
          )}
          <div class="actions">
            <button type="button" onClick={props.onClose}>
              Cancel
            </button>
            <button type="submit" class="primary" disabled={busy} data-testid="import-submit">
              Import
            </button>
          </div>
        </form>
      )}
    </Modal>
  );
}

export function ExportDevicesButton(props: { pk: string }) {
  const [error, setError] = useState<unknown>(null);
  const download = async () => {
    setError(null);
    try {
      const csv = await apiText('GET', `/products/${encodeURIComponent(props.pk)}/devices:export`);
      const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = `${props.pk}-devices.csv`;
      a.click();
      URL.revokeObjectURL(url);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <>
      <button onClick={download} data-testid="export-devices" title="Every device's credentials as CSV (admin; audited)">
        Export credentials
      </button>
      <ErrorBox error={error} />
    </>
  );
}

export function RegistrationSettings(props: { product: Product; onChanged: () => void }) {
  const p = props.product;
  const [shown, setShown] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const act = async (fn: () => Promise<unknown>) => {
    setError(null);
    try {
      await fn();
      props.onChanged();
    } catch (err) {
      setError(err);
    }
  };
  const path = `/products/${encodeURIComponent(p.productKey)}`;
  return (
    <div class="facts" data-testid="registration">
      <label>
        <input
          type="checkbox"
          checked={p.dynamicRegistration}
          onChange={(e) => act(() => api('PATCH', path, { dynamicRegistration: (e.target as HTMLInputElement).checked }))}
          data-testid="dynamic-registration"
        />{' '}
        dynamic registration
      </label>
      {p.productSecret !== undefined && (
        <span>
          productSecret <code data-testid="product-secret">{shown ? p.productSecret : '••••••••'}</code>{' '}
          <button class="link" onClick={() => setShown(!shown)} data-testid="show-product-secret">
            {shown ? 'hide' : 'show'}
          </button>{' '}
          <button
            class="link"
            onClick={() => confirm('Give the product a new productSecret? Devices still holding the old one can no longer register.') && act(() => api('POST', `${path}:rotateProductSecret`))}
            data-testid="rotate-product-secret"
          >
            rotate
          </button>
        </span>
      )}
      <ErrorBox error={error} />
    </div>
  );
}
