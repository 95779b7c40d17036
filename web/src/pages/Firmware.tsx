import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, BASE, getToken, List, Product, qs } from '../api';
import { ErrorBox, fmtTime, useLoad } from '../components/ui';

// The product's firmware packages (upload, delete), their upgrade jobs (create, cancel) and a job's
// rollout, live (polled every 2 s while it runs): a progress bar for the job and one per device.
export interface Firmware {
  id: string;
  productKey: string;
  module: string;
  version: string;
  srcVersions: string[];
  isDiff: boolean;
  extData: Record<string, unknown> | null;
  size: number;
  md5: string;
  sha256: string;
  downloads: number;
  createdAt: number;
  createdBy: string;
}
export interface OtaJob {
  jobId: string;
  firmwareId: string | null;
  module: string;
  version: string;
  target: string;
  maxConcurrent: number;
  retries: number;
  timeoutS: number;
  state: string;
  createdAt: number;
  finishedAt: number | null;
  devices: number;
  counts: Record<string, number>;
}
interface OtaTask {
  deviceName: string;
  state: string;
  step: number | null;
  desc: string;
  attempts: number;
  downloads: number;
  srcVersion: string;
  updatedAt: number;
}

const FINISHED = ['succeeded', 'failed', 'timed_out', 'cancelled'];

function fmtSize(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

// The package as the raw request body (streamed by the API into PostgreSQL). XMLHttpRequest rather than
// fetch: it reports how much of the body went out (`onProgress` gets 0..1).
function uploadFirmware(pk: string, file: File, query: Record<string, string>, onProgress: (share: number) => void): Promise<Firmware> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${BASE}/products/${encodeURIComponent(pk)}/firmwares${qs(query)}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.setRequestHeader('Accept', 'application/json');
    const token = getToken();
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () => reject(new ApiError({ status: 0, title: 'Network error', detail: 'the upload did not reach the server' }));
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(body as Firmware);
        return;
      }
      reject(
        new ApiError(
          body && typeof body === 'object'
            ? { status: xhr.status, ...(body as object) }
            : { status: xhr.status, title: xhr.statusText, detail: xhr.responseText.slice(0, 300) },
        ),
      );
    };
    xhr.send(file);
  });
}

function JobProgress(props: { job: OtaJob }) {
  const { job } = props;
  const done = FINISHED.reduce((n, s) => n + (job.counts[s] ?? 0), 0);
  return (
    <span class="job-progress">
      <progress max={Math.max(job.devices, 1)} value={done} title={`${done} of ${job.devices} finished`} data-testid="job-progress" />{' '}
      {done}/{job.devices}
    </span>
  );
}

function TaskProgress(props: { task: OtaTask }) {
  const { step, state } = props.task;
  if (state === 'succeeded') return <progress max={100} value={100} title="100%" />;
  if (step === null) return <span class="muted">-</span>;
  if (step < 0) return <span class="badge ev-error">{step}</span>;
  return <progress max={100} value={step} title={`${step}%`} />;
}

function JobView(props: { base: string; job: OtaJob; onChanged: () => void }) {
  const jobPath = `${props.base}/jobs/${props.job.jobId}`;
  const [tick, setTick] = useState(0);
  const job = useLoad(() => api<OtaJob>('GET', jobPath), [jobPath, tick]);
  const tasks = useLoad(() => api<List<OtaTask>>('GET', `${jobPath}/tasks${qs({ limit: 1000 })}`), [jobPath, tick]);
  const running = (job.data ?? props.job).state === 'running';
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => setTick((t) => t + 1), 2000);
    return () => clearInterval(timer);
  }, [running]);
  const [error, setError] = useState<unknown>(null);
  const cancel = async () => {
    setError(null);
    try {
      await api('POST', `${jobPath}:cancel`);
      setTick((t) => t + 1);
      props.onChanged();
    } catch (e) {
      setError(e);
    }
  };
  const j = job.data ?? props.job;
  return (
    <div class="card" data-testid="ota-job">
      <h4>
        Job <code>{j.jobId}</code> <span class={`badge st-${j.state === 'running' ? 'downloading' : j.state === 'completed' ? 'succeeded' : 'cancelled'}`} data-testid="job-state">{j.state}</span>{' '}
        <JobProgress job={j} />
        {running && (
          <button class="small" onClick={cancel} data-testid="job-cancel">
            Cancel
          </button>
        )}
      </h4>
      <ErrorBox error={error ?? job.error ?? tasks.error} />
      <p class="muted">
        {Object.entries(j.counts)
          .filter(([, n]) => n > 0)
          .map(([s, n]) => `${s} ${n}`)
          .join(' · ') || 'no devices'}
        {' — '}at most {j.maxConcurrent} at once, {j.retries} retries, {j.timeoutS} s per device
      </p>
      <table class="grid" data-testid="ota-tasks">
        <thead>
          <tr>
            <th>Device</th>
            <th>From</th>
            <th>State</th>
            <th>Progress</th>
            <th>Attempts</th>
            <th title="downloads of the package started by the device">Downloads</th>
            <th>Device says</th>
            <th>Updated</th>
          </tr>
        </thead>
        <tbody>
          {(tasks.data?.items ?? []).map((t) => (
            <tr data-testid={`ota-task-${t.deviceName}`}>
              <td>{t.deviceName}</td>
              <td>{t.srcVersion || <span class="muted">unknown</span>}</td>
              <td>
                <span class={`badge st-${t.state}`}>{t.state}</span>
              </td>
              <td>
                <TaskProgress task={t} />
              </td>
              <td>{t.attempts}</td>
              <td>{t.downloads}</td>
              <td>{t.desc}</td>
              <td>{fmtTime(t.updatedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {tasks.data?.nextCursor && <p class="muted">The first 1,000 devices are shown.</p>}
    </div>
  );
}

function FirmwareJobs(props: { pk: string; firmware: Firmware }) {
  const base = `/products/${encodeURIComponent(props.pk)}/firmwares/${props.firmware.id}`;
  const jobs = useLoad(() => api<{ items: OtaJob[] }>('GET', `${base}/jobs`), [base]);
  const [shown, setShown] = useState<string | null>(null);
  const [maxConcurrent, setMaxConcurrent] = useState(10);
  const [retries, setRetries] = useState(1);
  const [timeoutS, setTimeoutS] = useState(3600);
  const [names, setNames] = useState('');
  const [error, setError] = useState<unknown>(null);
  const create = async () => {
    setError(null);
    const deviceNames = names
      .split(/[\s,]+/)
      .map((n) => n.trim())
      .filter(Boolean);
    const target = deviceNames.length ? { target: 'list', deviceNames } : { target: 'all' };
    try {
      const job = await api<OtaJob>('POST', `${base}/jobs`, { ...target, maxConcurrent, retries, timeoutS });
      jobs.reload();
      setShown(job.jobId);
    } catch (e) {
      setError(e);
    }
  };
  const list = jobs.data?.items ?? [];
  const current = list.find((j) => j.jobId === shown) ?? list[0];
  return (
    <div>
      <div class="ota-row">
        <label>
          at most <input type="number" min={1} value={maxConcurrent} onInput={(e) => setMaxConcurrent(Number((e.target as HTMLInputElement).value))} /> at once
        </label>{' '}
        <label>
          retries <input type="number" min={0} value={retries} onInput={(e) => setRetries(Number((e.target as HTMLInputElement).value))} />
        </label>{' '}
        <label>
          timeout (s) <input type="number" min={1} value={timeoutS} onInput={(e) => setTimeoutS(Number((e.target as HTMLInputElement).value))} />
        </label>{' '}
        <input placeholder="devices (a, b; empty: all)" value={names} onInput={(e) => setNames((e.target as HTMLInputElement).value)} data-testid="job-devices" />{' '}
        <button class="primary" onClick={create} data-testid="job-create">
          {names.trim() ? 'Upgrade these devices' : 'Upgrade all devices'}
        </button>
      </div>
      <ErrorBox error={error ?? jobs.error} />
      {list.length > 1 && (
        <p>
          Jobs:{' '}
          {list.map((j) => (
            <button class={j.jobId === current?.jobId ? 'small primary' : 'small'} onClick={() => setShown(j.jobId)}>
              {fmtTime(j.createdAt)} ({j.state})
            </button>
          ))}
        </p>
      )}
      {current && <JobView key={current.jobId} base={base} job={current} onChanged={jobs.reload} />}
    </div>
  );
}

export function FirmwareTab(props: { product: Product }) {
  const pk = props.product.productKey;
  const firmwares = useLoad(() => api<{ items: Firmware[] }>('GET', `/products/${encodeURIComponent(pk)}/firmwares`), [pk]);
  const [file, setFile] = useState<File | null>(null);
  const [version, setVersion] = useState('');
  const [module, setModule] = useState('');
  const [srcVersions, setSrcVersions] = useState('');
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [open, setOpen] = useState<string | null>(null);
  const upload = async () => {
    if (!file) return;
    setBusy(true);
    setSent(0);
    setError(null);
    try {
      const query: Record<string, string> = { version };
      if (module) query.module = module;
      if (srcVersions) query.srcVersions = srcVersions;
      const f = await uploadFirmware(pk, file, query, setSent);
      firmwares.reload();
      setOpen(f.id);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const remove = async (f: Firmware) => {
    if (!confirm(`Delete firmware ${f.version} (${f.module})?`)) return;
    setError(null);
    try {
      await api('DELETE', `/products/${encodeURIComponent(pk)}/firmwares/${f.id}`);
      firmwares.reload();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <div class="card" data-testid="firmware-tab">
      <h3>Firmware packages</h3>
      <div class="ota-row">
        <input type="file" onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)} data-testid="firmware-file" />
        <input placeholder="version" value={version} onInput={(e) => setVersion((e.target as HTMLInputElement).value)} data-testid="firmware-version" />
        <input placeholder="module (default)" value={module} onInput={(e) => setModule((e.target as HTMLInputElement).value)} />
        <input placeholder="from versions (a,b)" value={srcVersions} onInput={(e) => setSrcVersions((e.target as HTMLInputElement).value)} />
        <button class="primary" disabled={!file || !version || busy} onClick={upload} data-testid="firmware-upload">
          {busy ? 'Uploading…' : 'Upload'}
        </button>
        {busy && (
          <span>
            <progress max={100} value={Math.round(sent * 100)} data-testid="firmware-upload-progress" /> {Math.round(sent * 100)}%
          </span>
        )}
      </div>
      <ErrorBox error={error ?? firmwares.error} />
      <table class="grid" data-testid="firmware-list">
        <thead>
          <tr>
            <th>Version</th>
            <th>Module</th>
            <th>From</th>
            <th>Size</th>
            <th>SHA-256</th>
            <th>Downloads</th>
            <th>Uploaded</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(firmwares.data?.items ?? []).map((f) => (
            <>
              <tr data-testid={`firmware-${f.version}`}>
                <td>
                  <strong>{f.version}</strong>
                </td>
                <td>
                  <code>{f.module}</code>
                </td>
                <td>{f.srcVersions.join(', ') || <span class="muted">any</span>}</td>
                <td>{fmtSize(f.size)}</td>
                <td>
                  <code title={`MD5 ${f.md5}`}>{f.sha256.slice(0, 16)}…</code>
                </td>
                <td>{f.downloads}</td>
                <td>{fmtTime(f.createdAt)}</td>
                <td>
                  <button class="small" onClick={() => setOpen(open === f.id ? null : f.id)} data-testid={`firmware-jobs-${f.version}`}>
                    {open === f.id ? 'Hide jobs' : 'Jobs'}
                  </button>{' '}
                  <button class="small danger" onClick={() => remove(f)} data-testid={`firmware-delete-${f.version}`}>
                    Delete
                  </button>
                </td>
              </tr>
              {open === f.id && (
                <tr>
                  <td colSpan={8}>
                    <FirmwareJobs pk={pk} firmware={f} />
                  </td>
                </tr>
              )}
            </>
          ))}
          {firmwares.data?.items.length === 0 && (
            <tr>
              <td colSpan={8} class="muted">
                No firmware uploaded.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
