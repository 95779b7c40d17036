import { useEffect, useMemo, useRef } from 'preact/hooks';
import { ErrorItem } from '../api';
import { lineOf, scanJson } from '../jsonpos';

export interface PlacedError extends ErrorItem {
  line?: number;
}

// Places errors (JSON pointers into `text`) at their lines.
export function placeErrors(text: string, errors: ErrorItem[]): PlacedError[] {
  const scan = scanJson(text);
  return errors.map((e) => ({ ...e, line: lineOf(scan, e.path ?? '') }));
}

// A plain textarea with a line-number gutter that marks the lines with errors; the list under it names
// each error's line and pointer, and selecting one moves the caret to that line.
export function JsonEditor(props: { value: string; onInput: (text: string) => void; errors: PlacedError[]; testid?: string; label?: string }) {
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);
  const lines = useMemo(() => props.value.split('\n').length, [props.value]);
  const errorLines = useMemo(() => new Set(props.errors.map((e) => e.line).filter((l): l is number => !!l)), [props.errors]);
  useEffect(() => {
    if (gutter.current && area.current) gutter.current.scrollTop = area.current.scrollTop;
  });
  const goto = (line?: number) => {
    const ta = area.current;
    if (!ta || !line) return;
    const parts = props.value.split('\n');
    let start = 0;
    for (let i = 0; i < line - 1; i++) start += parts[i].length + 1;
    ta.focus();
    ta.setSelectionRange(start, start + (parts[line - 1]?.length ?? 0));
    const lineHeight = parseFloat(getComputedStyle(ta).lineHeight) || 18;
    ta.scrollTop = Math.max(0, (line - 5) * lineHeight);
  };
  return (
    <div class="json-editor" data-testid={props.testid}>
      <div class="editor">
        <div class="gutter" ref={gutter} aria-hidden="true">
          {Array.from({ length: lines }, (_, i) => (
            <div class={errorLines.has(i + 1) ? 'err' : ''} data-line={i + 1}>
              {i + 1}
            </div>
          ))}
        </div>
        <textarea
          ref={area}
          spellcheck={false}
          aria-label={props.label ?? 'TSL JSON'}
          value={props.value}
          onInput={(e) => props.onInput((e.target as HTMLTextAreaElement).value)}
          onScroll={(e) => gutter.current && (gutter.current.scrollTop = (e.target as HTMLTextAreaElement).scrollTop)}
        />
      </div>
      {props.errors.length > 0 && (
        <ul class="placed-errors" data-testid="tsl-errors">
          {props.errors.map((e) => (
            <li>
              <button type="button" class="link" onClick={() => goto(e.line)} data-testid="tsl-error">
                <span class="line-ref">{e.line ? `line ${e.line}` : 'document'}</span> <code>{e.path || '/'}</code> {e.message}
                {e.code ? <span class="muted"> (code {e.code})</span> : null}
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
