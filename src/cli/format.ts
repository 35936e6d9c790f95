/**
 * How mosquitto_sub and mosquitto_rr print a message (sub_client_output.c): the plain
 * payload, `-v` (`topic payload`, or `topic (null)` when empty), or a `-F` format with
 * its `%` codes (printf-like flags, width and precision, counted in bytes), `@` strftime
 * codes and `\` escapes. Quirks are kept where users can see them: an empty payload
 * prints nothing at all without -v; `%-p` pads with as many spaces as the payload is
 * long; a hex field narrower than the payload prints half the bytes.
 */
import { Buffer } from 'node:buffer';
import type { ReceivedMessage } from '../client/message.ts';
import type { Properties } from '../protocol/packets.ts';
import { ByteOutput } from './byte-output.ts';
import {
  jsonNull,
  jsonNumber,
  jsonObject,
  jsonString,
  parseJsonPayload,
  printJson,
  type JsonValue,
} from './json.ts';
import { strftimeConversion } from '../common/strftime.ts';
import { isoMicroseconds, isoSeconds, now, type Instant } from './time-format.ts';

export interface PrintSettings {
  readonly format: string | null;
  readonly verbose: boolean;
  readonly eol: boolean;
  readonly pretty: boolean;
  /** Per ten thousand; 10000 prints everything. */
  readonly randomFilter: number;
}

export interface PrintResult {
  /** Bytes for stdout (possibly empty). */
  readonly stdout: Buffer;
  /** A message for stderr (err_printf: --quiet suppresses it), or null. */
  readonly stderr: string | null;
}

const NOTHING: PrintResult = { stdout: Buffer.alloc(0), stderr: null };

/** print_message: what one received message prints. */
export function printMessage(settings: PrintSettings, message: ReceivedMessage): PrintResult {
  if (
    settings.randomFilter < 10_000 &&
    Math.floor(Math.random() * 10_000) >= settings.randomFilter
  ) {
    return NOTHING;
  }
  const out = new ByteOutput();
  if (settings.format !== null) {
    const stderr = formattedPrint(settings, message, out);
    return { stdout: out.take(), stderr };
  }
  const length = message.payload.length;
  if (settings.verbose) {
    if (length > 0) {
      out.text(`${message.topic} `);
      out.bytes(message.payload);
      if (settings.eol) out.text('\n');
    } else if (settings.eol) {
      out.text(`${message.topic} (null)\n`);
    }
  } else if (length > 0) {
    out.bytes(message.payload);
    if (settings.eol) out.text('\n');
  }
  return { stdout: out.take(), stderr: null };
}

interface Field {
  readonly align: '' | '-';
  readonly pad: ' ' | '0';
  readonly width: number;
  /** -1 when not given. */
  readonly precision: number;
}

function formattedPrint(
  settings: PrintSettings,
  message: ReceivedMessage,
  out: ByteOutput,
): string | null {
  const format = settings.format ?? '';
  const len = format.length;
  let time: Instant | null = null;
  const clock = (): Instant => (time ??= now());
  let stderr: string | null = null;
  for (let i = 0; i < len; i++) {
    const c = format[i];
    if (c === '%') {
      let align: Field['align'] = '';
      let pad: Field['pad'] = ' ';
      let width = 0;
      let precision = -1;
      if (i < len - 1) {
        i++;
        if (format[i] === '-') {
          align = '-';
          if (i < len - 1) i++;
        }
        if (format[i] === '0') {
          pad = '0';
          if (i < len - 1) i++;
        }
        while (i < len - 1 && isDigit(format[i])) {
          width = width * 10 + Number(format[i]);
          i++;
        }
        if (format[i] === '.' && i < len - 1) {
          i++;
          precision = 0;
          while (i < len - 1 && isDigit(format[i])) {
            precision = precision * 10 + Number(format[i]);
            i++;
          }
        }
        if (i < len) {
          const problem = printPercent(
            settings,
            message,
            format[i] ?? '',
            { align, pad, width, precision },
            out,
            clock,
          );
          stderr ??= problem;
        }
      }
    } else if (c === '@') {
      if (i < len - 1) {
        i++;
        const code = format[i] ?? '';
        if (code === '@') out.text('@');
        else if (code === 'N') out.text(String(clock().nanoseconds).padStart(9, '0'));
        else out.text(strftimeConversion(code, clock().date));
      }
    } else if (c === '\\') {
      if (i < len - 1) {
        i++;
        out.text(ESCAPES[format[i] ?? ''] ?? '');
      }
    } else {
      out.text(c ?? '');
    }
  }
  if (settings.eol) out.text('\n');
  return stderr;
}

const ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\',
  '0': '\0',
  a: '\x07',
  e: '\x1b',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** printf("%d") with the field's flags: `-` left-aligns (and wins over `0`). */
function printInt(value: number, field: Field, out: ByteOutput): void {
  const text = String(value);
  if (field.width === 0 || text.length >= field.width) {
    out.text(text);
  } else if (field.align === '-') {
    out.text(text.padEnd(field.width, ' '));
  } else if (field.pad === '0') {
    const negative = value < 0;
    const digits = negative ? text.slice(1) : text;
    out.text((negative ? '-' : '') + digits.padStart(field.width - (negative ? 1 : 0), '0'));
  } else {
    out.text(text.padStart(field.width, ' '));
  }
}

/** printf("%*.*s") counted in bytes. */
function printStr(value: string, field: Field, out: ByteOutput): void {
  let bytes = Buffer.from(value, 'utf8');
  if (field.precision >= 0 && bytes.length > field.precision)
    bytes = bytes.subarray(0, field.precision);
  const padding = field.width - bytes.length;
  if (field.align !== '-') out.repeat(' ', padding);
  out.bytes(bytes);
  if (field.align === '-') out.repeat(' ', padding);
}

function printBlank(pad: string, width: number, out: ByteOutput): void {
  out.repeat(pad, width);
}

/** write_payload: raw (hex 0), lower-case hex (1) or upper-case hex (2). */
function writePayload(payload: Buffer, hex: 0 | 1 | 2, field: Field, out: ByteOutput): void {
  let length = payload.length;
  let padding: number;
  if (field.width > 0) {
    if (length > field.width) length = field.width;
    if (hex > 0) {
      length = Math.floor(length / 2);
      padding = field.width - length * 2;
    } else {
      padding = field.width - length;
    }
  } else {
    padding = field.width - length;
  }
  if (field.align !== '-') out.repeat(field.pad, padding);
  const shown = payload.subarray(0, length);
  if (hex === 0) out.bytes(shown);
  else if (hex === 1) out.text(shown.toString('hex'));
  else out.text(shown.toString('hex').toUpperCase());
  // printf("%*s", padlen, ""): a negative width left-justifies, so it still prints |padlen|.
  if (field.align === '-') out.repeat(' ', Math.abs(padding));
}

function printPercent(
  settings: PrintSettings,
  message: ReceivedMessage,
  code: string,
  field: Field,
  out: ByteOutput,
  clock: () => Instant,
): string | null {
  const p = message.properties;
  switch (code) {
    case '%':
      out.text('%');
      break;
    case 'A':
      if (p.topicAlias !== undefined) printInt(p.topicAlias, field, out);
      else printBlank(field.pad, field.width, out);
      break;
    case 'C':
      if (p.contentType !== undefined) printStr(p.contentType, field, out);
      else printBlank(' ', field.width, out);
      break;
    case 'D':
      if (p.correlationData !== undefined) out.bytes(p.correlationData);
      break;
    case 'E':
      if (p.messageExpiryInterval !== undefined) printInt(p.messageExpiryInterval | 0, field, out);
      else printBlank(field.pad, field.width, out);
      break;
    case 'F':
      if (p.payloadFormatIndicator !== undefined) printInt(p.payloadFormatIndicator, field, out);
      else printBlank(field.pad, field.width, out);
      break;
    case 'I':
      printStr(isoSeconds(clock()), field, out);
      break;
    case 'j':
      printJson(messageJson(message, clock(), true), settings.pretty, out);
      break;
    case 'J': {
      const payload = message.payload.length === 0 ? jsonNull : parseJsonPayload(message.payload);
      if (payload === null)
        return `Error: Message payload is not valid JSON on topic ${message.topic}.\n`;
      printJson(messageJson(message, clock(), false, payload), settings.pretty, out);
      break;
    }
    case 'l':
      printInt(message.payload.length, field, out);
      break;
    case 'm':
      printInt(message.mid, field, out);
      break;
    case 'P':
      (p.userProperties ?? []).forEach(([key, value], i) => {
        if (i > 0) out.text(' ');
        out.text(`${key}:${value}`);
      });
      break;
    case 'p':
      writePayload(message.payload, 0, field, out);
      break;
    case 'q':
      out.text(String(message.qos));
      break;
    case 'R':
      if (p.responseTopic !== undefined) printStr(p.responseTopic, field, out);
      break;
    case 'r':
      out.text(message.retain ? '1' : '0');
      break;
    case 'S': {
      const id = p.subscriptionIdentifiers?.[0];
      if (id !== undefined) printInt(id, field, out);
      else printBlank(field.pad, field.width, out);
      break;
    }
    case 't':
      printStr(message.topic, field, out);
      break;
    case 'U': {
      const t = clock();
      out.text(`${t.seconds}.${String(t.nanoseconds).padStart(9, '0')}`);
      break;
    }
    case 'x':
      writePayload(message.payload, 1, field, out);
      break;
    case 'X':
      writePayload(message.payload, 2, field, out);
      break;
    default:
      break;
  }
  return null;
}

/** The %j / %J object: fields in cJSON insertion order, properties in wire order. */
function messageJson(
  message: ReceivedMessage,
  instant: Instant,
  escaped: boolean,
  parsedPayload?: JsonValue,
): JsonValue {
  const entries: [string, JsonValue][] = [
    ['tst', jsonString(isoMicroseconds(instant))],
    ['topic', jsonString(message.topic)],
    ['qos', jsonNumber(message.qos)],
    ['retain', jsonNumber(message.retain ? 1 : 0)],
    ['payloadlen', jsonNumber(message.payload.length)],
  ];
  if (message.qos > 0) entries.push(['mid', jsonNumber(message.mid)]);
  if (Object.keys(message.properties).length > 0) {
    entries.push(['properties', propertiesJson(message.properties)]);
  }
  let payload: JsonValue;
  if (escaped) payload = message.payload.length === 0 ? jsonNull : jsonString(message.payload);
  else payload = parsedPayload ?? jsonNull;
  entries.push(['payload', payload]);
  return jsonObject(entries);
}

function propertiesJson(p: Properties): JsonValue {
  const entries: [string, JsonValue][] = [];
  for (const key of Object.keys(p) as (keyof Properties)[]) {
    switch (key) {
      case 'payloadFormatIndicator':
      case 'messageExpiryInterval':
      case 'topicAlias': {
        const value = p[key];
        if (value !== undefined) entries.push([JSON_NAMES[key], jsonNumber(value)]);
        break;
      }
      case 'contentType':
      case 'responseTopic': {
        const value = p[key];
        if (value !== undefined) entries.push([JSON_NAMES[key], jsonString(value)]);
        break;
      }
      case 'correlationData':
        if (p.correlationData !== undefined) {
          entries.push(['correlation-data', jsonString(p.correlationData)]);
        }
        break;
      case 'subscriptionIdentifiers':
        for (const id of p.subscriptionIdentifiers ?? []) {
          entries.push(['subscription-identifier', jsonNumber(id)]);
        }
        break;
      case 'userProperties':
        entries.push([
          'user-properties',
          jsonObject((p.userProperties ?? []).map(([k, v]) => [k, jsonString(v)] as const)),
        ]);
        break;
      default:
        break;
    }
  }
  return jsonObject(entries);
}

const JSON_NAMES = {
  payloadFormatIndicator: 'payload-format-indicator',
  messageExpiryInterval: 'message-expiry-interval',
  topicAlias: 'topic-alias',
  contentType: 'content-type',
  responseTopic: 'response-topic',
} as const;
