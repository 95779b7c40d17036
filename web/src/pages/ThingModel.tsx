import { useState } from 'preact/hooks';
import { api, ApiError, List, Product, VersionInfo } from '../api';
import { ErrorBox, fmtTime, useLoad } from '../components/ui';
import { JsonEditor, PlacedError, placeErrors } from '../components/JsonEditor';
import { scanJson } from '../jsonpos';
import { describeType, Param, TslDocument } from '../tsl';
import { DraftChanges, LiveRefusals } from './ModelChanges';

function ParamList(props: { params?: Param[] | string[] }) {
  const params = props.params ?? [];
  if (params.length === 0) return <span class="muted">—</span>;
  return (
    <ul class="params">
      {params.map((p) =>
        typeof p === 'string' ? (
          <li>
            <code>{p}</code>
          </li>
        ) : (
          <li>
            <code>{p.identifier}</code> {p.name && p.name !== p.identifier ? <span class="muted">{p.name}</span> : null} <span class="type">{describeType(p.dataType)}</span>
          </li>
        ),
      )}
    </ul>
  );
}

export function ModelTables(props: { doc: TslDocument }) {
  const { doc } = props;
  return (
    <div data-testid="model-tables">
      <h3>Properties</h3>
      <table class="grid" data-testid="model-properties">
        <thead>
          <tr>
            <th>Identifier</th>
            <th>Name</th>
            <th>Access</th>
            <th>Type and range</th>
            <th>Required</th>
          </tr>
        </thead>
        <tbody>
          {(doc.properties ?? []).map((p) => (
            <tr data-testid={`prop-${p.identifier}`}>
              <td>
                <code>{p.identifier}</code>
              </td>
              <td>{p.name}</td>
              <td>{p.accessMode ?? 'r'}</td>
              <td class="type">{describeType(p.dataType)}</td>
              <td>{p.required ? 'yes' : ''}</td>
            </tr>
          ))}
          {(doc.properties ?? []).length === 0 && (
            <tr>
              <td colSpan={5} class="muted">
                No properties.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <h3>Events</h3>
      <table class="grid" data-testid="model-events">
        <thead>
          <tr>
            <th>Identifier</th>
            <th>Name</th>
            <th>Type</th>
            <th>Output data</th>
          </tr>
        </thead>
        <tbody>
          {(doc.events ?? []).map((e) => (
            <tr data-testid={`event-${e.identifier}`}>
              <td>
                <code>{e.identifier}</code>
              </td>
              <td>{e.name}</td>
              <td>{e.type}</td>
              <td>{e.identifier === 'post' ? <span class="muted">every property (built in)</span> : <ParamList params={e.outputData} />}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Services</h3>
      <table class="grid" data-testid="model-services">
        <thead>
          <tr>
            <th>Identifier</th>
            <th>Name</th>
            <th>Call type</th>
            <th>Input data</th>
            <th>Output data</th>
          </tr>
        </thead>
        <tbody>
          {(doc.services ?? []).map((s) => (
            <tr data-testid={`service-${s.identifier}`}>
              <td>
                <code>{s.identifier}</code>
              </td>
              <td>{s.name}</td>
              <td>{s.callType}</td>
              <td>{s.identifier === 'set' ? <span class="muted">every rw property (built in)</span> : s.identifier === 'get' ? <span class="muted">property identifiers (built in)</span> : <ParamList params={s.inputData} />}</td>
              <td>{s.identifier === 'get' ? <span class="muted">every property</span> : <ParamList params={s.outputData} />}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function emptyModel(pk: string): string {
  return JSON.stringify({ schema: 'https://iotx-tsl.oss-ap-southeast-1.aliyuncs.com/schema.json', profile: { productKey: pk }, properties: [], events: [], services: [] }, null, 2);
}

// Editor for the draft: load, edit or import a file, save (PUT) with every error placed at its line.
function DraftEditor(props: { pk: string; onSaved: () => void; onClose: () => void }) {
  const { pk } = props;
  const [text, setText] = useState<string | null>(null);
  const [errors, setErrors] = useState<PlacedError[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  useLoad(async () => {
    for (const version of ['draft', 'latest']) {
      try {
        const doc = await api<TslDocument>('GET', `/products/${encodeURIComponent(pk)}/thing-model?version=${version}`);
        setText(JSON.stringify(doc, null, 2));
        return;
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 404) throw e;
      }
    }
    setText(emptyModel(pk));
  }, [pk]);
  const importFile = async (e: Event) => {
    const input = e.target as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    const content = await file.text();
    // Reformat parseable JSON so that lines are short and errors land on a line of their own.
    let pretty = content;
    try {
      pretty = JSON.stringify(JSON.parse(content), null, 2);
    } catch {
      /* shown as a syntax error at its line */
    }
    setText(pretty);
    setSaved(false);
    check(pretty);
    input.value = '';
  };
  const check = (t: string): boolean => {
    const scan = scanJson(t);
    if (scan.syntaxError) {
      setErrors([{ path: '', message: `JSON syntax: ${scan.syntaxError.message} (column ${scan.syntaxError.column})`, line: scan.syntaxError.line }]);
      return false;
    }
    setErrors([]);
    return true;
  };
  const save = async () => {
    if (text === null) return;
    setError(null);
    setSaved(false);
    if (!check(text)) return;
    try {
      await api('PUT', `/products/${encodeURIComponent(pk)}/thing-model`, text);
      setSaved(true);
      props.onSaved();
    } catch (e) {
      if (e instanceof ApiError && e.errors.length > 0) setErrors(placeErrors(text, e.errors));
      setError(e instanceof ApiError && e.errors.length > 0 ? new ApiError({ ...e.problem, errors: [] }) : e);
    }
  };
  if (text === null) return <p class="muted">Loading the draft…</p>;
  return (
    <div class="card" data-testid="draft-editor">
      <div class="page-head">
        <h3>Edit the draft (Alibaba TSL JSON)</h3>
        <div class="actions">
          <label class="button">
            Import file…
            <input type="file" accept=".json,application/json" onChange={importFile} data-testid="tsl-file" hidden />
          </label>
          <button onClick={() => (setText(emptyModel(pk)), setErrors([]))}>Clear</button>
          <button class="primary" onClick={save} data-testid="save-draft">
            Save draft
          </button>
          <button onClick={props.onClose}>Close</button>
        </div>
      </div>
      <ErrorBox error={error} />
      {saved && (
        <div class="ok" data-testid="draft-saved">
          Draft saved. Publish it to make devices validate with it.
        </div>
      )}
      <JsonEditor
        value={text}
        onInput={(t) => {
          setText(t);
          setSaved(false);
        }}
        errors={errors}
        testid="tsl-editor"
      />
    </div>
  );
}

export function ThingModelTab(props: { product: Product; onChanged: () => void }) {
  const pk = props.product.productKey;
  const [version, setVersion] = useState<string>('draft');
  const [editing, setEditing] = useState(false);
  const [publishError, setPublishError] = useState<unknown>(null);
  const [published, setPublished] = useState<number | null>(null);
  const [description, setDescription] = useState('');
  // A breaking draft is refused (409 naming /confirmBreaking) until the operator confirms.
  const [needsConfirm, setNeedsConfirm] = useState(false);
  const [draftTick, setDraftTick] = useState(0);
  const versions = useLoad(() => api<List<VersionInfo>>('GET', `/products/${encodeURIComponent(pk)}/thing-model/versions?limit=1000`), [pk, published]);
  const model = useLoad(async () => {
    try {
      return await api<TslDocument>('GET', `/products/${encodeURIComponent(pk)}/thing-model?version=${encodeURIComponent(version)}`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }
  }, [pk, version, published]);
  const publish = async (confirmBreaking = false) => {
    setPublishError(null);
    try {
      const body: Record<string, unknown> = description ? { description } : {};
      if (confirmBreaking) body.confirmBreaking = true;
      const r = await api<{ version: number }>('POST', `/products/${encodeURIComponent(pk)}/thing-model/publish`, body);
      setPublished(r.version);
      setNeedsConfirm(false);
      setDescription('');
      setVersion(String(r.version));
      props.onChanged();
    } catch (e) {
      setPublishError(e);
      setNeedsConfirm(e instanceof ApiError && e.status === 409 && e.errors.some((x) => x.path === '/confirmBreaking'));
    }
  };
  return (
    <div>
      <div class="toolbar">
        <label>
          Version{' '}
          <select value={version} onChange={(e) => setVersion((e.target as HTMLSelectElement).value)} data-testid="version-select">
            <option value="draft">draft</option>
            <option value="latest">latest published</option>
            {versions.data?.items.map((v) => (
              <option value={String(v.version)}>
                v{v.version} · {fmtTime(v.publishedAt)}
                {v.description ? ` · ${v.description}` : ''}
              </option>
            ))}
          </select>
        </label>
        <button onClick={() => setEditing(true)} data-testid="edit-model">
          Edit / import
        </button>
        <span class="spacer" />
        <input placeholder="version description" value={description} onInput={(e) => setDescription((e.target as HTMLInputElement).value)} aria-label="Version description" />
        <button class="primary" onClick={() => publish(false)} data-testid="publish">
          Publish draft
        </button>
        {needsConfirm && (
          <button class="danger" onClick={() => publish(true)} data-testid="publish-confirm">
            Publish anyway (breaking)
          </button>
        )}
      </div>
      {published !== null && (
        <div class="ok" data-testid="published">
          Published version {published}.
        </div>
      )}
      <ErrorBox error={publishError} testid="publish-error" />
      <LiveRefusals
        pk={pk}
        reloadKey={published}
        onRolledBack={(v) => {
          setPublished(v);
          setVersion(String(v));
          props.onChanged();
        }}
      />
      {version === 'draft' && <DraftChanges pk={pk} reloadKey={`${published}-${draftTick}`} />}
      {editing && (
        <DraftEditor
          pk={pk}
          onSaved={() => {
            setVersion('draft');
            setDraftTick((t) => t + 1);
            model.reload();
          }}
          onClose={() => setEditing(false)}
        />
      )}
      <ErrorBox error={model.error} />
      {model.data === null && <p class="muted">No {version === 'draft' ? 'draft' : 'published model'} yet: use “Edit / import”.</p>}
      {model.data && <ModelTables doc={model.data} />}
      <h3>Published versions</h3>
      <table class="grid" data-testid="versions">
        <thead>
          <tr>
            <th>Version</th>
            <th>Published</th>
            <th>Description</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {versions.data?.items.map((v) => (
            <tr>
              <td>v{v.version}</td>
              <td>{fmtTime(v.publishedAt)}</td>
              <td>{v.description}</td>
              <td>
                <button class="link" onClick={() => setVersion(String(v.version))}>
                  view
                </button>
              </td>
            </tr>
          ))}
          {versions.data && versions.data.items.length === 0 && (
            <tr>
              <td colSpan={4} class="muted">
                Nothing published yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
