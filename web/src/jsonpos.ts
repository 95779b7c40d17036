// Where each JSON pointer of a document starts in its text, so that the API's errors[].path can be shown
// at its line in the editor. A small strict JSON scanner; a syntax error is reported with its line too.

export interface Located {
  line: number; // 1-based
  column: number; // 1-based
}
export interface ScanResult {
  pointers: Map<string, Located>;
  syntaxError?: { message: string } & Located;
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function scanJson(text: string): ScanResult {
  const pointers = new Map<string, Located>();
  let i = 0;
  const lineStarts = [0];
  for (let k = 0; k < text.length; k++) if (text.charCodeAt(k) === 10) lineStarts.push(k + 1);
  const locate = (offset: number): Located => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - lineStarts[lo] + 1 };
  };
  class Syntax extends Error {
    constructor(message: string, public offset: number) {
      super(message);
    }
  }
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i])) i++;
  };
  const str = (): string => {
    if (text[i] !== '"') throw new Syntax('expected a string', i);
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++;
      else if (text.charCodeAt(i) < 0x20) throw new Syntax('control character in a string', i);
      i++;
    }
    if (i >= text.length) throw new Syntax('unterminated string', start);
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const value = (pointer: string, depth: number): void => {
    if (depth > 64) throw new Syntax('nested too deeply', i);
    ws();
    pointers.set(pointer, locate(i));
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        const keyAt = i;
        const key = str();
        pointers.set(`${pointer}/${escapePointer(key)}`, locate(keyAt));
        ws();
        if (text[i] !== ':') throw new Syntax("expected ':'", i);
        i++;
        value(`${pointer}/${escapePointer(key)}`, depth + 1);
        // The key's line is more useful than the value's when the value starts on another line.
        pointers.set(`${pointer}/${escapePointer(key)}`, locate(keyAt));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        throw new Syntax("expected ',' or '}'", i);
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (let n = 0; ; n++) {
        value(`${pointer}/${n}`, depth + 1);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        throw new Syntax("expected ',' or ']'", i);
      }
    }
    if (c === '"') {
      str();
      return;
    }
    const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 64));
    if (!m) throw new Syntax(i >= text.length ? 'unexpected end of the document' : `unexpected '${c}'`, i);
    i += m[0].length;
  };
  try {
    value('', 0);
    ws();
    if (i < text.length) throw new Syntax('text after the document', i);
  } catch (e) {
    if (e instanceof Syntax) return { pointers, syntaxError: { message: e.message, ...locate(e.offset) } };
    throw e;
  }
  return { pointers };
}

// The line of `pointer`, or of its nearest ancestor that exists in the text.
export function lineOf(scan: ScanResult, pointer: string): number | undefined {
  let p = pointer;
  for (;;) {
    const hit = scan.pointers.get(p);
    if (hit) return hit.line;
    if (p === '') return undefined;
    p = p.slice(0, p.lastIndexOf('/'));
  }
}
