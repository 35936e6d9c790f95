/**
 * JSON as mosquitto_sub writes it for %j and %J, which is cJSON's output: a tree of
 * values printed compact (`{"a":1}`) or, with --pretty, tab-indented
 * (`{\n\t"a":\t1\n}`, arrays on one line as `[1, 2]`). Strings are byte strings (C
 * strings: they end at the first NUL), escaped as cJSON escapes them; numbers print as
 * `%d` when integral and as `%1.15g` (or `%1.17g` if that does not round-trip) otherwise.
 *
 * %J embeds the payload parsed as JSON, so cJSON's parser rules matter too: it is lenient
 * in places (raw control characters in strings, leading zeros, any byte <= 0x20 as white
 * space) and strict in others (a value must fill the whole payload), and the payload is
 * printed back in cJSON's form, not as received.
 */
import { Buffer } from 'node:buffer';
import type { ByteOutput } from './byte-output.ts';

export type JsonValue =
  | { readonly kind: 'null' }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'number'; readonly value: number }
  | { readonly kind: 'string'; readonly bytes: Buffer }
  | { readonly kind: 'array'; readonly items: readonly JsonValue[] }
  | { readonly kind: 'object'; readonly entries: readonly (readonly [Buffer, JsonValue])[] };

export const jsonNull: JsonValue = { kind: 'null' };
export const jsonNumber = (value: number): JsonValue => ({ kind: 'number', value });
export const jsonString = (value: string | Buffer): JsonValue => ({
  kind: 'string',
  bytes: typeof value === 'string' ? Buffer.from(value, 'utf8') : value,
});
export const jsonObject = (entries: readonly (readonly [string, JsonValue])[]): JsonValue => ({
  kind: 'object',
  entries: entries.map(([k, v]) => [Buffer.from(k, 'utf8'), v] as const),
});

// ---------------------------------------------------------------- printing

const INT_MAX = 2_147_483_647;
const INT_MIN = -2_147_483_648;

/** C's printf("%.<precision>g"). */
function formatG(value: number, precision: number): string {
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  const exponential = value.toExponential(precision - 1);
  const [mantissa = '', exponentText = '0'] = exponential.split('e');
  const exponent = Number(exponentText);
  const stripZeros = (s: string): string => (s.includes('.') ? s.replace(/\.?0+$/, '') : s);
  if (exponent < -4 || exponent >= precision) {
    const abs = Math.abs(exponent);
    return `${stripZeros(mantissa)}e${exponent < 0 ? '-' : '+'}${abs < 10 ? '0' : ''}${abs}`;
  }
  return stripZeros(value.toFixed(Math.max(0, precision - 1 - exponent)));
}

/** cJSON's print_number. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return 'null';
  const asInt = value >= INT_MAX ? INT_MAX : value <= INT_MIN ? INT_MIN : Math.trunc(value);
  if (value === asInt) return String(asInt);
  const short = formatG(value, 15);
  const back = Number(short);
  const tolerance = Math.max(Math.abs(back), Math.abs(value)) * Number.EPSILON;
  return Math.abs(back - value) <= tolerance ? short : formatG(value, 17);
}

const SHORT_ESCAPES: Readonly<Record<number, string>> = {
  0x22: '\\"',
  0x5c: '\\\\',
  0x08: '\\b',
  0x0c: '\\f',
  0x0a: '\\n',
  0x0d: '\\r',
  0x09: '\\t',
};

/** cJSON's print_string_ptr: quotes, escapes below 0x20 and `"` `\`, raw bytes otherwise. */
function printString(bytes: Buffer, out: ByteOutput): void {
  const nul = bytes.indexOf(0);
  const text = nul < 0 ? bytes : bytes.subarray(0, nul);
  out.text('"');
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const b = text[i] as number;
    if (b > 31 && b !== 0x22 && b !== 0x5c) continue;
    out.bytes(text.subarray(start, i));
    out.text(SHORT_ESCAPES[b] ?? `\\u${b.toString(16).padStart(4, '0')}`);
    start = i + 1;
  }
  out.bytes(text.subarray(start));
  out.text('"');
}

export function printJson(value: JsonValue, pretty: boolean, out: ByteOutput, depth = 0): void {
  switch (value.kind) {
    case 'null':
      out.text('null');
      return;
    case 'bool':
      out.text(value.value ? 'true' : 'false');
      return;
    case 'number':
      out.text(formatNumber(value.value));
      return;
    case 'string':
      printString(value.bytes, out);
      return;
    case 'array':
      out.text('[');
      value.items.forEach((item, i) => {
        printJson(item, pretty, out, depth + 1);
        if (i < value.items.length - 1) out.text(pretty ? ', ' : ',');
      });
      out.text(']');
      return;
    case 'object': {
      const inner = depth + 1;
      out.text(pretty ? '{\n' : '{');
      value.entries.forEach(([key, item], i) => {
        if (pretty) out.repeat('\t', inner);
        printString(key, out);
        out.text(pretty ? ':\t' : ':');
        printJson(item, pretty, out, inner);
        if (i < value.entries.length - 1) out.text(',');
        if (pretty) out.text('\n');
      });
      if (pretty) out.repeat('\t', inner - 1);
      out.text('}');
      return;
    }
  }
}

// ---------------------------------------------------------------- parsing

/** cJSON's nesting limit (CJSON_NESTING_LIMIT). */
const NESTING_LIMIT = 1000;

class ParseFailure extends Error {}

/**
 * Parses a payload the way cJSON_ParseWithOpts(payload, &end, true) does and the tool then
 * checks (end == payload + length): null when it is not one complete JSON value.
 */
export function parseJsonPayload(payload: Buffer): JsonValue | null {
  const nul = payload.indexOf(0);
  if (nul >= 0) return null; // parsing stops at the NUL, short of the payload's end
  let pos = 0;
  if (payload[0] === 0xef && payload[1] === 0xbb && payload[2] === 0xbf) pos = 3;
  const parser = new Parser(payload, pos);
  try {
    parser.skipWhitespace();
    const value = parser.value(0);
    parser.skipWhitespace();
    return parser.pos === payload.length ? value : null;
  } catch (error) {
    if (error instanceof ParseFailure) return null;
    throw error;
  }
}

const NUMBER_CHARS = /^[0-9+\-eE.]{1,63}/;
const STRTOD = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/;

class Parser {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
  ) {}

  skipWhitespace(): void {
    while (this.pos < this.buf.length && (this.buf[this.pos] as number) <= 32) this.pos++;
  }

  private fail(): never {
    throw new ParseFailure();
  }

  private literal(text: string): boolean {
    if (this.buf.toString('latin1', this.pos, this.pos + text.length) !== text) return false;
    this.pos += text.length;
    return true;
  }

  value(depth: number): JsonValue {
    const c = this.buf[this.pos];
    if (c === undefined) this.fail();
    if (this.literal('null')) return jsonNull;
    if (this.literal('false')) return { kind: 'bool', value: false };
    if (this.literal('true')) return { kind: 'bool', value: true };
    if (c === 0x22) return { kind: 'string', bytes: this.string() };
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (c === 0x5b) return this.array(depth);
    if (c === 0x7b) return this.object(depth);
    this.fail();
  }

  private number(): JsonValue {
    const candidate = NUMBER_CHARS.exec(this.buf.toString('latin1', this.pos, this.pos + 63));
    const parsed = candidate === null ? null : STRTOD.exec(candidate[0]);
    if (parsed === null) this.fail();
    this.pos += parsed[0].length;
    return { kind: 'number', value: Number(parsed[0]) };
  }

  private hex4(at: number): number {
    const text = this.buf.toString('latin1', at, at + 4);
    // cJSON's parse_hex4 yields 0 for a non-hex digit rather than failing.
    return /^[0-9a-fA-F]{4}$/.test(text) ? parseInt(text, 16) : 0;
  }

  private string(): Buffer {
    const buf = this.buf;
    let end = this.pos + 1;
    while (end < buf.length && buf[end] !== 0x22) {
      if (buf[end] === 0x5c) {
        if (end + 1 >= buf.length) this.fail();
        end++;
      }
      end++;
    }
    if (end >= buf.length) this.fail();
    const out: number[] = [];
    let i = this.pos + 1;
    while (i < end) {
      const b = buf[i] as number;
      if (b !== 0x5c) {
        out.push(b);
        i++;
        continue;
      }
      const e = buf[i + 1];
      switch (e) {
        case 0x62:
          out.push(0x08);
          break;
        case 0x66:
          out.push(0x0c);
          break;
        case 0x6e:
          out.push(0x0a);
          break;
        case 0x72:
          out.push(0x0d);
          break;
        case 0x74:
          out.push(0x09);
          break;
        case 0x22:
        case 0x5c:
        case 0x2f:
          out.push(e);
          break;
        case 0x75: {
          if (end - i < 6) this.fail();
          let code = this.hex4(i + 2);
          let length = 6;
          if (code >= 0xdc00 && code <= 0xdfff) this.fail();
          if (code >= 0xd800 && code <= 0xdbff) {
            if (end - (i + 6) < 6 || buf[i + 6] !== 0x5c || buf[i + 7] !== 0x75) this.fail();
            const low = this.hex4(i + 8);
            if (low < 0xdc00 || low > 0xdfff) this.fail();
            code = 0x10000 + (((code & 0x3ff) << 10) | (low & 0x3ff));
            length = 12;
          }
          out.push(...Buffer.from(String.fromCodePoint(code), 'utf8'));
          i += length;
          continue;
        }
        default:
          this.fail();
      }
      i += 2;
    }
    this.pos = end + 1;
    return Buffer.from(out);
  }

  private array(depth: number): JsonValue {
    if (depth >= NESTING_LIMIT) this.fail();
    this.pos++;
    this.skipWhitespace();
    const items: JsonValue[] = [];
    if (this.buf[this.pos] === 0x5d) {
      this.pos++;
      return { kind: 'array', items };
    }
    for (;;) {
      this.skipWhitespace();
      items.push(this.value(depth + 1));
      this.skipWhitespace();
      const c = this.buf[this.pos];
      this.pos++;
      if (c === 0x2c) continue;
      if (c === 0x5d) return { kind: 'array', items };
      this.fail();
    }
  }

  private object(depth: number): JsonValue {
    if (depth >= NESTING_LIMIT) this.fail();
    this.pos++;
    this.skipWhitespace();
    const entries: (readonly [Buffer, JsonValue])[] = [];
    if (this.buf[this.pos] === 0x7d) {
      this.pos++;
      return { kind: 'object', entries };
    }
    for (;;) {
      this.skipWhitespace();
      if (this.buf[this.pos] !== 0x22) this.fail();
      const key = this.string();
      this.skipWhitespace();
      if (this.buf[this.pos] !== 0x3a) this.fail();
      this.pos++;
      this.skipWhitespace();
      const item = this.value(depth + 1);
      entries.push([key, item]);
      this.skipWhitespace();
      const c = this.buf[this.pos];
      this.pos++;
      if (c === 0x2c) continue;
      if (c === 0x7d) return { kind: 'object', entries };
      this.fail();
    }
  }
}
