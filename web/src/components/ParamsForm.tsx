import { useState } from 'preact/hooks';
import { ApiError, ErrorItem } from '../api';
import { checkValue, DataType, defaultInput, describeType, Param, parseInput } from '../tsl';

function toInput(value: unknown): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

// One input for a value of a TSL data type: selects for bool and enum, text for numbers, text and
// dates, JSON for struct and array.
export function ValueInput(props: { param: Param; text: string; onInput: (t: string) => void; invalid: boolean }) {
  const { param } = props;
  const dt: DataType = param.dataType;
  const s = dt.specs ?? {};
  const common = {
    name: param.identifier,
    'aria-label': param.name || param.identifier,
    'aria-invalid': props.invalid ? 'true' : undefined,
    'data-testid': `input-${param.identifier}`,
  } as const;
  if (dt.type === 'bool' || dt.type === 'enum') {
    return (
      <select {...common} value={props.text} onChange={(e) => props.onInput((e.target as HTMLSelectElement).value)}>
        {Object.entries(s as Record<string, string>).map(([k, v]) => (
          <option value={k}>
            {k} · {v}
          </option>
        ))}
      </select>
    );
  }
  if (dt.type === 'struct' || dt.type === 'array') {
    return <textarea {...common} rows={2} spellcheck={false} value={props.text} onInput={(e) => props.onInput((e.target as HTMLTextAreaElement).value)} />;
  }
  const numeric = dt.type === 'int' || dt.type === 'float' || dt.type === 'double';
  return (
    <input
      {...common}
      type="text"
      inputMode={numeric || dt.type === 'date' ? 'decimal' : 'text'}
      placeholder={numeric ? `${s.min ?? ''}…${s.max ?? ''}` : dt.type === 'date' ? 'epoch ms' : ''}
      value={props.text}
      onInput={(e) => props.onInput((e.target as HTMLInputElement).value)}
    />
  );
}

// A form for a list of parameters (a service's inputData, or one property to set). Values are checked
// in the browser against the specs first; the API's 400 errors (errors[].path under `pathPrefix`) are
// shown at their field too.
export function ParamsForm(props: {
  params: Param[];
  submitLabel: string;
  pathPrefix: string; // e.g. "/params"
  onSubmit: (values: Record<string, unknown>) => Promise<void>;
  testid?: string;
  compact?: boolean;
  initial?: Record<string, unknown>; // current values (e.g. the latest reported), else type defaults
}) {
  const [texts, setTexts] = useState<Record<string, string>>(() =>
    Object.fromEntries(props.params.map((p) => [p.identifier, props.initial && p.identifier in props.initial ? toInput(props.initial[p.identifier]) : defaultInput(p.dataType)])),
  );
  const [problems, setProblems] = useState<ErrorItem[]>([]);
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setFormError(null);
    const values: Record<string, unknown> = {};
    const found: ErrorItem[] = [];
    for (const p of props.params) {
      const parsed = parseInput(p.dataType, texts[p.identifier] ?? '');
      if (parsed.problem) {
        found.push({ path: `${props.pathPrefix}/${p.identifier}`, message: parsed.problem });
        continue;
      }
      values[p.identifier] = parsed.value;
      for (const pr of checkValue(p.dataType, parsed.value)) found.push({ path: `${props.pathPrefix}/${p.identifier}${pr.path}`, message: pr.message });
    }
    setProblems(found);
    if (found.length > 0) return;
    setBusy(true);
    try {
      await props.onSubmit(values);
    } catch (err) {
      if (err instanceof ApiError && err.errors.length > 0) {
        setProblems(err.errors);
        const unplaced = err.errors.filter((x) => !props.params.some((p) => x.path === `${props.pathPrefix}/${p.identifier}` || x.path.startsWith(`${props.pathPrefix}/${p.identifier}/`)));
        setFormError(`${err.problem.detail ?? err.message}${unplaced.length ? ': ' + unplaced.map((x) => `${x.path} ${x.message}`).join('; ') : ''}`);
      } else if (err instanceof ApiError) {
        setFormError(`${err.status}: ${err.problem.detail ?? err.message}`);
      } else {
        setFormError(String(err));
      }
    } finally {
      setBusy(false);
    }
  };
  const problemsOf = (id: string) => problems.filter((x) => x.path === `${props.pathPrefix}/${id}` || x.path.startsWith(`${props.pathPrefix}/${id}/`));
  return (
    <form onSubmit={submit} class={props.compact ? 'params-form compact' : 'params-form'} data-testid={props.testid} noValidate>
      {props.params.map((p) => {
        const mine = problemsOf(p.identifier);
        return (
          <div class="field">
            <label>
              <span class="field-name">
                {props.compact ? null : <code>{p.identifier}</code>} {props.compact ? null : p.name && p.name !== p.identifier ? <span class="muted">{p.name}</span> : null}
              </span>
              <ValueInput param={p} text={texts[p.identifier] ?? ''} onInput={(t) => setTexts({ ...texts, [p.identifier]: t })} invalid={mine.length > 0} />
            </label>
            {!props.compact && <span class="hint">{describeType(p.dataType)}</span>}
            {mine.map((x) => (
              <span class="field-error" data-testid={`field-error-${p.identifier}`}>
                {x.path.slice(`${props.pathPrefix}/${p.identifier}`.length) || ''} {x.message}
              </span>
            ))}
          </div>
        );
      })}
      {props.params.length === 0 && <p class="muted">No input data.</p>}
      <div class="form-actions">
        <button type="submit" class="primary" disabled={busy} data-testid="submit">
          {props.submitLabel}
        </button>
        {formError && (
          <span class="field-error" role="alert" data-testid="form-error">
            {formError}
          </span>
        )}
      </div>
    </form>
  );
}
