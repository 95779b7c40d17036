import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { JsonEditor, PlacedError } from './JsonEditor';
import { ErrorBox, fmtTime, Json, useLoad } from './ui';

// The device shadow (Alibaba's separate document, not the thing model's desired properties).
export interface ShadowDocument {
  state: { reported: Record<string, unknown>; desired: Record<string, unknown> };
  metadata: { reported: Record<string, { timestamp: number }>; desired: Record<string, { timestamp: number }> };
  timestamp: number; // seconds
  version: number;
}

// Reported and desired state with the version; an operator edits desired (merged into the shadow: the
// string "null" removes an attribute) and saves it with the next version. An online device gets it at
// once, an offline one when it next asks.
export function ShadowSection(props: { base: string }) {
  const shadow = useLoad(() => api<ShadowDocument>('GET', `${props.base}/shadow`), [props.base]);
  const [text, setText] = useState('{}');
  const [errors, setErrors] = useState<PlacedError[]>([]);
  const [saveError, setSaveError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const doc = shadow.data;
  useEffect(() => {
    if (doc) setText(JSON.stringify(doc.state.desired, null, 2));
  }, [doc?.version]);
  const save = async () => {
    if (!doc) return;
    setErrors([]);
    setSaveError(null);
    let desired: unknown;
    try {
      desired = JSON.parse(text);
    } catch (e) {
      setErrors([{ path: '', code: 0, message: `not JSON: ${(e as Error).message}`, line: 1 }]);
      return;
    }
    setBusy(true);
    try {
      await api('PUT', `${props.base}/shadow`, { state: { desired }, version: doc.version + 1 });
      shadow.reload();
    } catch (e) {
      setSaveError(e);
      if (e instanceof ApiError && e.status === 409) shadow.reload();
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="card" data-testid="shadow">
      <h3>Shadow</h3>
      <ErrorBox error={shadow.error} />
      {doc && (
        <>
          <p class="muted small">
            version <strong data-testid="shadow-version">{doc.version}</strong>, changed {doc.timestamp ? fmtTime(doc.timestamp * 1000) : 'never'}
          </p>
          <div class="shadow-state">
            <div>
              <h4>Reported</h4>
              <div data-testid="shadow-reported">
                <Json value={doc.state.reported} />
              </div>
            </div>
            <div>
              <h4>Desired</h4>
              <div data-testid="shadow-desired">
                <Json value={doc.state.desired} />
              </div>
            </div>
          </div>
          <h4>Change desired</h4>
          <JsonEditor value={text} onInput={setText} errors={errors} testid="shadow-editor" label="Desired state JSON" />
          <div class="actions">
            <button class="primary" onClick={save} disabled={busy} data-testid="shadow-save">
              Save desired (version {doc.version + 1})
            </button>
            <button onClick={shadow.reload} disabled={busy}>
              Reload
            </button>
          </div>
          <ErrorBox error={saveError} testid="shadow-error" />
        </>
      )}
    </div>
  );
}
