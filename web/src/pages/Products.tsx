import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, listAll, Product, Validation } from '../api';
import { ErrorBox, fmtTime, Link, Modal, useLoad } from '../components/ui';
import { navigate } from '../router';

const MODES: Validation[] = ['weak', 'strict', 'none'];

export function ValidationSelect(props: { product: Product; onChanged: (p: Product) => void }) {
  const [error, setError] = useState<unknown>(null);
  // Shown at once; the product is reloaded by the caller.
  const [value, setValue] = useState(props.product.validation);
  useEffect(() => setValue(props.product.validation), [props.product.validation]);
  const change = async (next: string) => {
    setError(null);
    const before = value;
    setValue(next as Validation);
    try {
      const p = await api<Product>('PATCH', `/products/${encodeURIComponent(props.product.productKey)}`, { validation: next });
      setValue(p.validation);
      props.onChanged(p);
    } catch (e) {
      setValue(before);
      setError(e);
    }
  };
  return (
    <span>
      <select aria-label="Validation mode" data-testid="validation" value={value} onChange={(e) => change((e.target as HTMLSelectElement).value)}>
        {MODES.map((m) => (
          <option value={m}>{m}</option>
        ))}
      </select>
      {error ? <ErrorBox error={error} /> : null}
    </span>
  );
}

function CreateProduct(props: { onClose: () => void; onCreated: (p: Product) => void }) {
  const [form, setForm] = useState({ name: '', productKey: '', nodeType: 'device', validation: 'weak', retentionDays: '30', description: '', dataFormat: 'alink' });
  const [error, setError] = useState<unknown>(null);
  const set = (k: string) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  const fieldError = (field: string) =>
    error instanceof ApiError
      ? error.errors
          .filter((x) => x.path === `/${field}`)
          .map((x) => (
            <span class="field-error" data-testid={`field-error-${field}`}>
              {x.message}
            </span>
          ))
      : null;
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const body: Record<string, unknown> = { name: form.name, nodeType: form.nodeType, validation: form.validation, dataFormat: form.dataFormat };
    if (form.productKey.trim()) body.productKey = form.productKey.trim();
    if (form.description.trim()) body.description = form.description.trim();
    if (form.retentionDays.trim()) body.retentionDays = Number(form.retentionDays);
    try {
      props.onCreated(await api<Product>('POST', '/products', body));
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Modal title="New product" onClose={props.onClose} testid="create-product">
      <form onSubmit={submit} class="form">
        <label>
          Name <input name="name" value={form.name} onInput={set('name')} required maxLength={64} />
          {fieldError('name')}
        </label>
        <label>
          Product key <input name="productKey" value={form.productKey} onInput={set('productKey')} placeholder="generated when empty" pattern="[A-Za-z0-9]{4,32}" title="4–32 letters and digits" />
          {fieldError('productKey')}
        </label>
        <div class="row">
          <label>
            Node type
            <select name="nodeType" value={form.nodeType} onChange={set('nodeType')}>
              <option value="device">device</option>
              <option value="gateway">gateway</option>
            </select>
          </label>
          <label>
            Validation
            <select name="validation" value={form.validation} onChange={set('validation')}>
              {MODES.map((m) => (
                <option value={m}>{m}</option>
              ))}
            </select>
          </label>
          <label>
            Data format
            <select name="dataFormat" value={form.dataFormat} onChange={set('dataFormat')} title="fixed once the product exists">
              <option value="alink">Alink JSON</option>
              <option value="raw">raw bytes + parsing script</option>
            </select>
          </label>
          <label>
            Retention (days) <input name="retentionDays" type="number" min={1} value={form.retentionDays} onInput={set('retentionDays')} />
            {fieldError('retentionDays')}
          </label>
        </div>
        <label>
          Description <input name="description" value={form.description} onInput={set('description')} />
        </label>
        <ErrorBox error={error} />
        <div class="actions">
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" class="primary">
            Create
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function ProductsPage() {
  const [creating, setCreating] = useState(false);
  const { data, error, reload } = useLoad(() => listAll<Product>('/products'), []);
  return (
    <section>
      <div class="page-head">
        <h2>Products</h2>
        <button class="primary" onClick={() => setCreating(true)} data-testid="new-product">
          New product
        </button>
      </div>
      <ErrorBox error={error} />
      <table class="grid" data-testid="products">
        <thead>
          <tr>
            <th>Name</th>
            <th>Product key</th>
            <th>Node type</th>
            <th>Validation</th>
            <th>Thing model</th>
            <th class="num">Devices</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {data?.items.map((p) => (
            <tr data-testid={`product-${p.productKey}`}>
              <td>
                <Link href={`/products/${encodeURIComponent(p.productKey)}`}>{p.name}</Link>
              </td>
              <td>
                <code>{p.productKey}</code>
              </td>
              <td>{p.nodeType}</td>
              <td>
                <ValidationSelect product={p} onChanged={reload} />
              </td>
              <td>{p.thingModelVersion === null ? <span class="muted">not published</span> : `v${p.thingModelVersion}`}</td>
              <td class="num">
                <Link href={`/products/${encodeURIComponent(p.productKey)}/devices`}>{p.deviceCount}</Link>
              </td>
              <td>{fmtTime(p.createdAt)}</td>
            </tr>
          ))}
          {data && data.items.length === 0 && (
            <tr>
              <td colSpan={7} class="muted">
                No products yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {creating && (
        <CreateProduct
          onClose={() => setCreating(false)}
          onCreated={(p) => {
            setCreating(false);
            navigate(`/products/${encodeURIComponent(p.productKey)}/model`);
          }}
        />
      )}
    </section>
  );
}
