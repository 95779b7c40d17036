import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, Product } from '../api';
import { JsonEditor, PlacedError } from '../components/JsonEditor';
import { ErrorBox, fmtTime, Json } from '../components/ui';

// A raw product's parsing script: edit, test on a sample (bytes up, a JSON message down) and save.
// Errors from saving (400 errors[]) and from a test run are shown at their script lines.

interface ScriptDoc {
  productKey: string;
  script: string;
  updatedAt: number;
}

interface ScriptError {
  code: number;
  message: string;
  line: number | null;
}

interface TestResult {
  ok: boolean;
  direction?: string;
  result?: unknown;
  error?: ScriptError;
  cpuMs?: number;
}

const TEMPLATE = `// rawDataToProtocol(bytes): the device's bytes (signed, like Java's byte[]) -> an Alink JSON object.
// protocolToRawData(json): an Alink message (reply or downlink) -> an array of bytes.
function rawDataToProtocol(bytes) {
  var u = new Uint8Array(bytes.length);
  for (var i = 0; i < bytes.length; i++) u[i] = bytes[i] & 0xff;
  var view = new DataView(u.buffer, 0);
  if (u[0] === 0x00) {
    return { method: 'thing.event.property.post', version: '1.0', id: '' + view.getInt32(1), params: {} };
  }
  return { id: '' + view.getInt32(1), code: u[5] === 0 ? 200 : 460, data: {} };
}

function protocolToRawData(json) {
  var id = parseInt(json.id);
  return [json.method === 'thing.service.property.set' ? 0x01 : 0x02, (id >> 24) & 0xff, (id >> 16) & 0xff, (id >> 8) & 0xff, id & 0xff];
}
`;

function placed(error: ScriptError | undefined): PlacedError[] {
  if (!error) return [];
  return [{ path: '', code: error.code, message: error.message, line: error.line ?? undefined }];
}

export function ScriptTab(props: { product: Product; onChanged: () => void }) {
  const pk = props.product.productKey;
  const base = `/products/${encodeURIComponent(pk)}/script`;
  const [text, setText] = useState('');
  const [saved, setSaved] = useState<ScriptDoc | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [errors, setErrors] = useState<PlacedError[]>([]);
  const [saveError, setSaveError] = useState<unknown>(null);
  const [direction, setDirection] = useState<'up' | 'down'>('up');
  const [payloadHex, setPayloadHex] = useState('00 00000001 0019 32');
  const [message, setMessage] = useState('{"id":"1","version":"1.0","method":"thing.service.property.set","params":{}}');
  const [test, setTest] = useState<TestResult | null>(null);
  const [testError, setTestError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    setLoadError(null);
    api<ScriptDoc>('GET', base)
      .then((doc) => {
        setSaved(doc);
        setText(doc.script);
      })
      .catch((e) => {
        if (e instanceof ApiError && e.status === 404) setText(TEMPLATE);
        else setLoadError(e);
      });
  }, [pk]);

  const save = async () => {
    setSaveError(null);
    setErrors([]);
    setBusy(true);
    try {
      const doc = await api<ScriptDoc>('PUT', base, { script: text });
      setSaved(doc);
      props.onChanged();
    } catch (e) {
      setSaveError(e);
      if (e instanceof ApiError) {
        setErrors(e.errors.map((x) => ({ ...x, line: /^line (\d+):/.exec(x.message)?.[1] ? Number(/^line (\d+):/.exec(x.message)![1]) : undefined })));
      }
    } finally {
      setBusy(false);
    }
  };

  const run = async () => {
    setTest(null);
    setTestError(null);
    setBusy(true);
    try {
      const body: Record<string, unknown> = { script: text, direction };
      if (direction === 'up') body.payloadHex = payloadHex;
      else body.message = JSON.parse(message);
      const r = await api<TestResult>('POST', `${base}:test`, body);
      setTest(r);
      setErrors(placed(r.error));
    } catch (e) {
      setTestError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div data-testid="script-tab">
      <ErrorBox error={loadError} />
      <p class="muted">
        Devices of this product publish bytes on <code>thing/model/up_raw</code>; the script turns them into Alink messages that are validated and stored like any other,
        and turns replies and downlinks (property sets, services) into bytes on <code>up_raw_reply</code> and <code>down_raw</code>. Each call runs with a CPU-time and a
        memory limit. {saved ? <>Saved {fmtTime(saved.updatedAt)}.</> : 'Not saved yet.'}
      </p>
      <JsonEditor value={text} onInput={setText} errors={errors} testid="script-editor" label="Parsing script" />
      <div class="actions">
        <button class="primary" onClick={save} disabled={busy} data-testid="script-save">
          Save script
        </button>
      </div>
      <ErrorBox error={saveError} />
      <h3>Test</h3>
      <div class="toolbar">
        <label>
          Direction{' '}
          <select value={direction} onChange={(e) => setDirection((e.target as HTMLSelectElement).value as 'up' | 'down')} data-testid="script-direction">
            <option value="up">up: bytes → Alink (rawDataToProtocol)</option>
            <option value="down">down: Alink → bytes (protocolToRawData)</option>
          </select>
        </label>
      </div>
      {direction === 'up' ? (
        <label class="form">
          Payload (hex) <input value={payloadHex} onInput={(e) => setPayloadHex((e.target as HTMLInputElement).value)} data-testid="script-payload" />
        </label>
      ) : (
        <label class="form">
          Message (JSON) <textarea rows={4} value={message} onInput={(e) => setMessage((e.target as HTMLTextAreaElement).value)} data-testid="script-message" />
        </label>
      )}
      <div class="actions">
        <button onClick={run} disabled={busy} data-testid="script-run">
          Run on the editor's script
        </button>
      </div>
      <ErrorBox error={testError} />
      {test && (
        <div data-testid="script-result" class={test.ok ? 'ok' : 'error'}>
          {test.ok ? <strong>OK</strong> : <strong>Error {test.error?.code}</strong>}{' '}
          {test.error && (
            <span>
              {test.error.line ? `line ${test.error.line}: ` : ''}
              {test.error.message}
            </span>
          )}
          {typeof test.cpuMs === 'number' && <span class="muted"> ({test.cpuMs.toFixed(2)} ms CPU)</span>}
          {test.result !== undefined && <Json value={test.result} />}
        </div>
      )}
    </div>
  );
}
