// Thing-model changes: the draft's diff against the latest version (classified), a dry run of the draft
// over recorded traffic with its progress and result, and the live refusal view after a publish with
// a one-step rollback.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorBox, fmtTime, Json, useLoad } from '../components/ui';

export type ChangeClass = 'compatible' | 'breaks-devices' | 'breaks-applications';
export interface ModelChange {
  kind: 'property' | 'event' | 'service' | 'parameter';
  identifier: string;
  module: string;
  parent?: string;
  direction?: string;
  path?: string;
  change: 'added' | 'removed' | 'changed';
  detail: string;
  class: ChangeClass;
  classes: ChangeClass[];
}
interface Example {
  deviceName: string;
  value: unknown;
  time: number;
  code: number;
  message: string;
  transition: 'acceptedToRefused' | 'refusedToAccepted';
}
interface DryRunResult {
  acceptedToRefused: number;
  refusedToAccepted: number;
  identifiers: { identifier: string; acceptedToRefused: number; refusedToAccepted: number; examples: Example[] }[];
  devices: { deviceName: string; acceptedToRefused: number; refusedToAccepted: number }[];
  examined: { accepted: number; refused: number; skipped: number };
  truncated: boolean;
}
interface DryRun {
  id: string;
  state: 'running' | 'done' | 'failed';
  progress: number;
  result: DryRunResult | null;
  error: string | null;
  from: number;
  to: number;
}
interface Diff {
  from: number | null;
  to: number | 'draft';
  changes: ModelChange[];
  summary: { compatible: number; breaksDevices: number; breaksApplications: number; breaking: boolean };
  dryRun?: DryRun | null;
}
interface Refusals {
  version: number;
  publishedAt: number;
  previousVersion: number | null;
  live: boolean;
  after: { from: number; to: number; total: number };
  before: { from: number; to: number; total: number };
  identifiers: { identifier: string; after: number; before: number; afterPerHour: number; beforePerHour: number }[];
}

function ClassBadge(props: { value: ChangeClass }) {
  return <span class={`badge cls-${props.value}`}>{props.value}</span>;
}

function where(c: ModelChange): string {
  const base = c.kind === 'parameter' ? `${c.parent} ${c.direction} ${c.identifier}` : c.identifier;
  const full = c.path ? `${base} › ${c.path}` : base;
  return c.module ? `${c.module}:${full}` : full;
}

export function DiffTable(props: { changes: ModelChange[] }) {
  return (
    <table class="grid" data-testid="diff">
      <thead>
        <tr>
          <th>Kind</th>
          <th>Where</th>
          <th>Change</th>
          <th>Detail</th>
          <th>Class</th>
        </tr>
      </thead>
      <tbody>
        {props.changes.map((c) => (
          <tr class={c.class === 'compatible' ? '' : 'breaking'}>
            <td>{c.kind}</td>
            <td>
              <code>{where(c)}</code>
            </td>
            <td>{c.change}</td>
            <td>{c.detail}</td>
            <td>
              {c.classes.map((k) => (
                <ClassBadge value={k} />
              ))}
            </td>
          </tr>
        ))}
        {props.changes.length === 0 && (
          <tr>
            <td colSpan={5} class="muted">
              No changes.
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

function DryRunView(props: { run: DryRun }) {
  const run = props.run;
  if (run.state === 'running') {
    return (
      <p data-testid="dry-run-progress">
        Dry run running: <progress value={run.progress} max={1} /> {Math.round(run.progress * 100)} %
      </p>
    );
  }
  if (run.state === 'failed') return <div class="error">Dry run failed: {run.error}</div>;
  const r = run.result;
  if (!r) return null;
  return (
    <div data-testid="dry-run-result">
      <p>
        Traffic {fmtTime(run.from)} – {fmtTime(run.to)}: {r.examined.accepted} accepted and {r.examined.refused} refused items re-validated
        {r.truncated ? ' (window cut at the limit)' : ''}. <strong>{r.acceptedToRefused}</strong> accepted values would be refused,{' '}
        <strong>{r.refusedToAccepted}</strong> refused ones would pass.
      </p>
      {r.identifiers.length > 0 && (
        <table class="grid" data-testid="dry-run-identifiers">
          <thead>
            <tr>
              <th>Identifier</th>
              <th>Accepted → refused</th>
              <th>Refused → accepted</th>
              <th>Examples</th>
            </tr>
          </thead>
          <tbody>
            {r.identifiers.map((i) => (
              <tr>
                <td>
                  <code>{i.identifier}</code>
                </td>
                <td>{i.acceptedToRefused}</td>
                <td>{i.refusedToAccepted}</td>
                <td>
                  {i.examples.map((e) => (
                    <div class="muted">
                      {e.transition === 'acceptedToRefused' ? '✗' : '✓'} {e.deviceName} <Json value={e.value} /> {fmtTime(e.time)} {e.code}: {e.message}
                    </div>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {r.devices.length > 0 && (
        <table class="grid" data-testid="dry-run-devices">
          <thead>
            <tr>
              <th>Device</th>
              <th>Accepted → refused</th>
              <th>Refused → accepted</th>
            </tr>
          </thead>
          <tbody>
            {r.devices.map((d) => (
              <tr>
                <td>{d.deviceName}</td>
                <td>{d.acceptedToRefused}</td>
                <td>{d.refusedToAccepted}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

// The draft against the latest version, with its dry run.
export function DraftChanges(props: { pk: string; reloadKey: unknown }) {
  const base = `/products/${encodeURIComponent(props.pk)}/thing-model`;
  const diff = useLoad(() => api<Diff>('GET', `${base}/diff?from=latest&to=draft`), [props.pk, props.reloadKey]);
  const [run, setRun] = useState<DryRun | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => setRun(null), [props.pk, props.reloadKey]);
  useEffect(() => {
    if (!run || run.state !== 'running') return;
    const timer = window.setTimeout(async () => {
      try {
        setRun(await api<DryRun>('GET', `${base}/dry-runs/${run.id}`));
      } catch (e) {
        setError(e);
      }
    }, 1000);
    return () => window.clearTimeout(timer);
  }, [run]);
  const start = async () => {
    setError(null);
    try {
      const r = await api<{ id: string }>('POST', `${base}:dry-run`, { version: 'draft' });
      setRun(await api<DryRun>('GET', `${base}/dry-runs/${r.id}`));
    } catch (e) {
      setError(e);
    }
  };
  if (diff.error) return null; // no draft: nothing to compare
  const d = diff.data;
  if (!d) return null;
  const shown = run ?? d.dryRun ?? null;
  return (
    <div class="panel" data-testid="draft-changes">
      <h3>
        Draft against {d.from === null ? 'nothing published' : `v${d.from}`}: {d.summary.breaksDevices} break devices, {d.summary.breaksApplications} break
        applications, {d.summary.compatible} compatible
      </h3>
      <DiffTable changes={d.changes} />
      <div class="toolbar">
        <button onClick={start} disabled={run?.state === 'running'} data-testid="dry-run">
          Dry run on the last 24 h
        </button>
      </div>
      <ErrorBox error={error} />
      {shown && <DryRunView run={shown} />}
    </div>
  );
}

// Refusals per identifier since the latest publish against the hour before, shown for an hour after
// each publish, with a rollback to the previous version.
export function LiveRefusals(props: { pk: string; reloadKey: unknown; onRolledBack: (version: number) => void }) {
  const base = `/products/${encodeURIComponent(props.pk)}/thing-model`;
  const [tick, setTick] = useState(0);
  const view = useLoad(() => api<Refusals>('GET', `${base}/refusals`), [props.pk, props.reloadKey, tick]);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const timer = window.setInterval(() => setTick((t) => t + 1), 10000);
    return () => window.clearInterval(timer);
  }, []);
  const v = view.data;
  if (!v || !v.live) return null;
  const rollback = async () => {
    setError(null);
    try {
      const r = await api<{ version: number }>('POST', `${base}/rollback`, {});
      props.onRolledBack(r.version);
    } catch (e) {
      setError(e);
    }
  };
  return (
    <div class="panel" data-testid="live-refusals">
      <h3>
        Since v{v.version} was published ({fmtTime(v.publishedAt)}): {v.after.total} refusals; {v.before.total} in the hour before
      </h3>
      <table class="grid">
        <thead>
          <tr>
            <th>Identifier</th>
            <th>Since publish</th>
            <th>Per hour since</th>
            <th>Hour before</th>
          </tr>
        </thead>
        <tbody>
          {v.identifiers.map((i) => (
            <tr class={i.afterPerHour > i.beforePerHour ? 'breaking' : ''}>
              <td>
                <code>{i.identifier || '(whole message)'}</code>
              </td>
              <td>{i.after}</td>
              <td>{i.afterPerHour.toFixed(1)}</td>
              <td>{i.before}</td>
            </tr>
          ))}
          {v.identifiers.length === 0 && (
            <tr>
              <td colSpan={4} class="muted">
                No refusals.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {v.previousVersion !== null && (
        <button onClick={rollback} data-testid="rollback">
          Roll back to v{v.previousVersion}
        </button>
      )}
      <ErrorBox error={error} />
    </div>
  );
}
