import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api';
import { onLinkClick } from '../router';

export function Link(props: { href: string; children: ComponentChildren; class?: string; testid?: string }) {
  return (
    <a href={props.href} class={props.class} data-testid={props.testid} onClick={(e) => onLinkClick(e as MouseEvent, props.href)}>
      {props.children}
    </a>
  );
}

export function fmtTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  // The browser's local time with its UTC offset, so a time is never ambiguous ("+08:00", "Z" for UTC).
  const offset = -d.getTimezoneOffset();
  const zone = offset === 0 ? 'Z' : `${offset > 0 ? '+' : '-'}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)} ${zone}`;
}

export function ErrorBox(props: { error: unknown; testid?: string }) {
  if (!props.error) return null;
  const e = props.error;
  if (e instanceof ApiError) {
    return (
      <div class="error" role="alert" data-testid={props.testid ?? 'error'}>
        <strong>{e.problem.title ?? 'Error'}</strong> ({e.status || 'network'}){e.problem.detail ? `: ${e.problem.detail}` : ''}
        {e.errors.length > 0 && (
          <ul>
            {e.errors.map((x) => (
              <li>
                <code>{x.path || '/'}</code> {x.message}
                {x.code ? ` (code ${x.code})` : ''}
              </li>
            ))}
          </ul>
        )}
      </div>
    );
  }
  return (
    <div class="error" role="alert" data-testid={props.testid ?? 'error'}>
      {String((e as Error)?.message ?? e)}
    </div>
  );
}

// Loads data with `load`, reloads when deps change or reload() is called; keeps the last data while reloading.
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; error: unknown; reload: () => void; loading: boolean } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  useEffect(() => {
    const mine = ++seq.current;
    setLoading(true);
    load().then(
      (d) => {
        if (mine !== seq.current) return;
        setData(d);
        setError(null);
        setLoading(false);
      },
      (e) => {
        if (mine !== seq.current) return;
        setError(e);
        setLoading(false);
      },
    );
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, reload, loading };
}

// Calls fn at most once per `ms` (trailing), for reloads triggered by stream bursts.
export function useDebounced(fn: () => void, ms: number): () => void {
  const timer = useRef<number | undefined>(undefined);
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => () => window.clearTimeout(timer.current), []);
  return useCallback(() => {
    if (timer.current !== undefined) return;
    timer.current = window.setTimeout(() => {
      timer.current = undefined;
      ref.current();
    }, ms);
  }, [ms]);
}

export function StatusBadge(props: { status: string }) {
  return (
    <span class={`badge st-${props.status}`} data-testid="status">
      {props.status}
    </span>
  );
}

export function Json(props: { value: unknown }) {
  if (props.value === undefined || props.value === null) return <span class="muted">—</span>;
  return <code class="json">{typeof props.value === 'string' ? JSON.stringify(props.value) : JSON.stringify(props.value)}</code>;
}

export function Modal(props: { title: string; onClose: () => void; children: ComponentChildren; testid?: string }) {
  // A layout effect: listening from the moment the dialog is on screen (a plain effect waits for the next
  // frame, up to 100 ms, and an Escape pressed in between was lost).
  useLayoutEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && props.onClose();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
  return (
    <div class="modal-back" onClick={(e) => e.target === e.currentTarget && props.onClose()}>
      <div class="modal" role="dialog" aria-label={props.title} data-testid={props.testid}>
        <div class="modal-head">
          <h3>{props.title}</h3>
          <button class="icon" aria-label="Close" onClick={props.onClose}>
            ×
          </button>
        </div>
        {props.children}
      </div>
    </div>
  );
}
