// Alibaba TSL (reference §1): types, human-readable spec summaries, and the browser-side check of values
// before they are sent (the API checks them again, strictly).

export type TslType = 'int' | 'float' | 'double' | 'text' | 'date' | 'bool' | 'enum' | 'struct' | 'array';

export interface DataType {
  type: TslType;
  specs?: any;
}
export interface Param {
  identifier: string;
  name?: string;
  dataType: DataType;
}
export interface TslProperty extends Param {
  accessMode?: string;
  required?: boolean;
  desc?: string;
}
export interface TslEvent {
  identifier: string;
  name?: string;
  type?: string;
  desc?: string;
  method?: string;
  outputData?: Param[];
}
export interface TslService {
  identifier: string;
  name?: string;
  desc?: string;
  callType?: 'sync' | 'async';
  method?: string;
  inputData?: Param[] | string[];
  outputData?: Param[];
}
export interface TslDocument {
  schema?: string;
  profile?: { productKey?: string; version?: string };
  properties?: TslProperty[];
  events?: TslEvent[];
  services?: TslService[];
  functionBlockId?: string;
  functionBlockName?: string;
}

export const NUMERIC: TslType[] = ['int', 'float', 'double'];

export function isNumeric(dataType: DataType | undefined | null): boolean {
  return !!dataType && NUMERIC.includes(dataType.type);
}

function unitOf(specs: any): string {
  if (!specs || typeof specs !== 'object') return '';
  const unit = specs.unit || '';
  return unit ? ` ${unit}` : '';
}

// "int 0…100 step 1 %", "enum 0=auto, 1=low", "struct {Lat: double −90…90, …}".
export function describeType(dt: DataType | undefined): string {
  if (!dt) return '';
  const s = dt.specs ?? {};
  switch (dt.type) {
    case 'int':
    case 'float':
    case 'double': {
      const range = s.min !== undefined || s.max !== undefined ? ` ${s.min ?? '−∞'} … ${s.max ?? '∞'}` : '';
      const step = s.step ? ` step ${s.step}` : '';
      return `${dt.type}${range}${step}${unitOf(s)}`;
    }
    case 'text':
      return `text ≤ ${s.length ?? '?'} bytes`;
    case 'date':
      return 'date (epoch ms string)';
    case 'bool':
      return `bool 0=${s['0'] ?? ''}, 1=${s['1'] ?? ''}`;
    case 'enum':
      return `enum ${Object.entries(s)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}`;
    case 'struct':
      return `struct { ${(Array.isArray(s) ? s : []).map((m: Param) => `${m.identifier}: ${describeType(m.dataType)}`).join('; ')} }`;
    case 'array': {
      const item = s.item as DataType | undefined;
      return `array ≤ ${s.size ?? '?'} of ${item ? describeType(item) : '?'}`;
    }
    default:
      return String((dt as DataType).type);
  }
}

export interface ValueProblem {
  path: string; // JSON pointer relative to the value
  message: string;
}

function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}

function num(text: unknown): number | undefined {
  if (text === undefined || text === null || text === '') return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

// Checks a JSON value against a data type as the platform does in strict mode.
export function checkValue(dt: DataType, value: unknown, path = ''): ValueProblem[] {
  const s = dt.specs ?? {};
  const bad = (message: string): ValueProblem[] => [{ path, message }];
  switch (dt.type) {
    case 'int':
    case 'float':
    case 'double': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return bad(`must be a number (${dt.type})`);
      if (dt.type === 'int') {
        if (!Number.isInteger(value)) return bad('must be an integer');
        if (value < -2147483648 || value > 2147483647) return bad('outside the 32-bit integer range');
      }
      const min = num(s.min);
      const max = num(s.max);
      if (min !== undefined && value < min) return bad(`must be ≥ ${s.min}`);
      if (max !== undefined && value > max) return bad(`must be ≤ ${s.max}`);
      return [];
    }
    case 'text': {
      if (typeof value !== 'string') return bad('must be text');
      const length = num(s.length);
      if (length !== undefined && utf8Length(value) > length) return bad(`longer than ${s.length} bytes`);
      return [];
    }
    case 'date':
      if (typeof value !== 'string' || !/^\d{1,15}$/.test(value)) return bad('must be a string of epoch milliseconds');
      return [];
    case 'bool':
      if (value !== 0 && value !== 1) return bad('must be 0 or 1');
      return [];
    case 'enum':
      if (typeof value !== 'number' || !Number.isInteger(value) || !(String(value) in s))
        return bad(`must be one of ${Object.keys(s).join(', ')}`);
      return [];
    case 'struct': {
      if (!value || typeof value !== 'object' || Array.isArray(value)) return bad('must be an object');
      const members: Param[] = Array.isArray(s) ? s : [];
      const problems: ValueProblem[] = [];
      const obj = value as Record<string, unknown>;
      for (const key of Object.keys(obj)) {
        if (!members.some((m) => m.identifier === key)) problems.push({ path: `${path}/${key}`, message: 'not a member of this struct' });
      }
      for (const m of members) {
        if (!(m.identifier in obj)) problems.push({ path: `${path}/${m.identifier}`, message: 'missing' });
        else problems.push(...checkValue(m.dataType, obj[m.identifier], `${path}/${m.identifier}`));
      }
      return problems;
    }
    case 'array': {
      if (!Array.isArray(value)) return bad('must be an array');
      const size = num(s.size);
      if (size !== undefined && value.length > size) return bad(`more than ${s.size} elements`);
      const item = s.item as DataType | undefined;
      if (!item) return [];
      return value.flatMap((v, i) => checkValue(item, v, `${path}/${i}`));
    }
    default:
      return [];
  }
}

// The text a form field holds → the JSON value sent. Returns a problem when the text cannot be that type.
export function parseInput(dt: DataType, text: string): { value?: unknown; problem?: string } {
  const trimmed = text.trim();
  switch (dt.type) {
    case 'int':
    case 'float':
    case 'double':
    case 'bool':
    case 'enum': {
      if (trimmed === '') return { problem: 'required' };
      const n = Number(trimmed);
      if (!Number.isFinite(n)) return { problem: 'not a number' };
      return { value: n };
    }
    case 'text':
      return { value: text };
    case 'date':
      if (trimmed === '') return { problem: 'required' };
      return { value: trimmed };
    case 'struct':
    case 'array': {
      if (trimmed === '') return { problem: 'required' };
      try {
        return { value: JSON.parse(trimmed) };
      } catch (e) {
        return { problem: `not JSON: ${(e as Error).message}` };
      }
    }
    default:
      return { value: text };
  }
}

// A reasonable starting text for a field of this type.
export function defaultInput(dt: DataType): string {
  const s = dt.specs ?? {};
  switch (dt.type) {
    case 'int':
    case 'float':
    case 'double':
      return s.min !== undefined && Number(s.min) > 0 ? String(s.min) : '0';
    case 'bool':
      return '0';
    case 'enum':
      return Object.keys(s)[0] ?? '0';
    case 'text':
      return '';
    case 'date':
      return String(Date.now());
    case 'struct':
      return JSON.stringify(sampleValue(dt));
    case 'array':
      return '[]';
    default:
      return '';
  }
}

export function sampleValue(dt: DataType): unknown {
  const s = dt.specs ?? {};
  switch (dt.type) {
    case 'struct':
      return Object.fromEntries((Array.isArray(s) ? s : []).map((m: Param) => [m.identifier, sampleValue(m.dataType)]));
    case 'array':
      return [];
    case 'text':
      return '';
    case 'date':
      return String(Date.now());
    default:
      return Number(defaultInput(dt));
  }
}

export function formatValue(value: unknown): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

// Display a value with its meaning where the type has one (enum/bool labels, date as a time, unit).
export function displayValue(dt: DataType | undefined, value: unknown): string {
  if (!dt) return formatValue(value);
  const s = dt.specs ?? {};
  switch (dt.type) {
    case 'bool':
    case 'enum':
      return s[String(value)] !== undefined ? `${formatValue(value)} (${s[String(value)]})` : formatValue(value);
    case 'date': {
      const ms = Number(value);
      return Number.isFinite(ms) ? `${new Date(ms).toISOString().replace('T', ' ').replace('.000Z', 'Z')}` : formatValue(value);
    }
    case 'int':
    case 'float':
    case 'double':
      return `${formatValue(value)}${unitOf(s)}`;
    default:
      return formatValue(value);
  }
}

export function userServices(doc: TslDocument | null): TslService[] {
  return (doc?.services ?? []).filter((s) => s.identifier !== 'set' && s.identifier !== 'get');
}
export function userEvents(doc: TslDocument | null): TslEvent[] {
  return (doc?.events ?? []).filter((e) => e.identifier !== 'post');
}
export function serviceInputs(service: TslService): Param[] {
  return (service.inputData ?? []).filter((p): p is Param => typeof p === 'object' && p !== null);
}
