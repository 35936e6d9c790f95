/**
 * `mosquitto_db_dump`: prints a Mosquitto persistence file (mosquitto.db), with the
 * options, output and exit codes of Mosquitto 2.0.22's apps/db_dump, plus 2.1's --json:
 *
 *   mosquitto_db_dump [--stats | --client-stats | --json] <mosquitto db filename>
 *
 * - no option: every chunk, as 2.0.22's print.c prints it;
 * - --stats: the number of chunks of each type;
 * - --client-stats: per client, its subscriptions and queued messages and their sizes;
 * - --json: 2.1.2's JSON document (json.c, printed by cJSON), with 2.1.2's reading and
 *   error messages (they end in a newline there; in 2.0.22 they do not).
 *
 * Damaged files get Mosquitto's treatment, quirks included: a missing file is reported but
 * exits 0, a file that ends at a chunk boundary or inside a chunk header is simply shorter,
 * chunks of an unknown type are skipped with a warning. The usage line is 2.1.2's, since
 * this tool takes --json. See db-dump-read.ts for the reading.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import {
  DB_MAGIC,
  DbPropertyId,
  isMosquittoUtf8,
  type DbProperty,
} from '../common/mosquitto-db.ts';
import {
  DbStream,
  readCfg,
  readChunkHeader,
  readClient,
  readClientMsg,
  readMsgStore,
  readRetain,
  readSub,
  type RawClient,
  type RawClientMsg,
  type RawMsgStore,
  type RawSub,
} from './db-dump-read.ts';

const USAGE = 'Usage: db_dump [--stats | --client-stats | --json] <mosquitto db filename>\n';

/** The highest version db_dump knows (MOSQ_DB_VERSION). */
const KNOWN_VERSION = 6;

type Mode = 'print' | 'stats' | 'client-stats' | 'json';

/** What the tool wrote and its exit status; main() hands it to the process. */
export interface DbDumpResult {
  readonly stdout: Buffer;
  readonly stderr: string;
  readonly code: number;
}

/** Entry point of `mosquitto_db_dump`; resolves to the exit code. */
export function main(argv: readonly string[]): Promise<number> {
  const result = dbDump(argv);
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  return Promise.resolve(result.code);
}

/** Runs the tool on `argv` (without the program name), reading the file named there. */
export function dbDump(argv: readonly string[]): DbDumpResult {
  let mode: Mode;
  let filename: string;
  const [first, second] = argv;
  if (argv.length === 1 && first !== undefined) {
    mode = 'print';
    filename = first;
  } else if (argv.length === 2 && second !== undefined && first !== undefined && first in OPTIONS) {
    mode = OPTIONS[first] ?? 'print';
    filename = second;
  } else {
    return { stdout: Buffer.alloc(0), stderr: USAGE, code: 1 };
  }
  let data: Buffer;
  let readErrno = 'Success';
  try {
    data = readFileSync(filename);
  } catch (error) {
    // fopen() of a directory succeeds; the first fread() then fails with EISDIR.
    if ((error as { code?: unknown }).code !== 'EISDIR') {
      return { stdout: Buffer.alloc(0), stderr: `Error: Unable to open ${filename}\n`, code: 0 };
    }
    data = Buffer.alloc(0);
    readErrno = 'Is a directory';
  }
  return new Dump(mode, data, readErrno).run();
}

const OPTIONS: Readonly<Record<string, Mode>> = {
  '--stats': 'stats',
  '--client-stats': 'client-stats',
  '--json': 'json',
};

interface ClientStats {
  readonly id: Buffer;
  subscriptions: number;
  subscriptionSize: number;
  messages: number;
  messageSize: number;
}

class Dump {
  private readonly out: Buffer[] = [];
  private err = '';
  /** --json follows 2.1.2, the other modes 2.0.22. */
  private readonly v21: boolean;
  private readonly print: boolean;
  private version = 0;
  private readonly counts = { cfg: 0, msgStore: 0, clientMsg: 0, retain: 0, sub: 0, client: 0 };
  /** Clients in insertion order (uthash iterates so); lookups find the newest match. */
  private readonly clients: ClientStats[] = [];
  private readonly messageLengths: { storeId: bigint; length: number }[] = [];
  private readonly json = {
    baseMessages: [] as JsonValue[],
    clients: [] as JsonValue[],
    clientMessages: [] as JsonValue[],
    retained: [] as JsonValue[],
    subscriptions: [] as JsonValue[],
  };

  constructor(
    private readonly mode: Mode,
    private readonly data: Buffer,
    private readonly readErrno: string,
  ) {
    this.v21 = mode === 'json';
    this.print = mode === 'print';
  }

  run(): DbDumpResult {
    const code = this.dump();
    return { stdout: Buffer.concat(this.out), stderr: this.err, code };
  }

  private dump(): number {
    const stream = new DbStream(this.data);
    const header = stream.read(DB_MAGIC.length);
    if (header === null) return this.readError();
    let rc = 0;
    if (header.equals(DB_MAGIC)) {
      this.text('Mosquitto DB dump\n');
      const crc = stream.read(4);
      if (crc === null) return this.readError();
      this.text(`CRC: ${crc.readInt32LE(0)}\n`);
      const version = stream.read(4);
      if (version === null) return this.readError();
      this.version = version.readUInt32BE(0);
      this.text(`DB version: ${this.version | 0}\n`);
      if (this.version > KNOWN_VERSION) {
        this.text(
          'Warning: mosquitto_db_dump does not support this DB version, continuing but expecting errors.\n',
        );
      }
      for (;;) {
        const chunkHeader = readChunkHeader(stream, this.version);
        if (chunkHeader === null) break;
        const [type, length] = chunkHeader;
        if (!this.chunk(stream, type, length)) return 1;
      }
    } else {
      this.error('Error: Unrecognised file format.');
      rc = 1;
    }
    if (this.mode === 'json') this.printJson();
    if (this.mode === 'stats') this.printStats();
    if (this.mode === 'client-stats') this.printClientStats();
    return rc;
  }

  /** One chunk; false when the dump stops there (exit status 1). */
  private chunk(stream: DbStream, type: number, length: number): boolean {
    switch (type) {
      case 1:
        return this.cfg(stream, length);
      case 2:
        return this.msgStore(stream, length);
      case 3:
        return this.clientMsg(stream, length);
      case 4:
        return this.retain(stream, length);
      case 5:
        return this.sub(stream, length);
      case 6:
        return this.client(stream, length);
      default:
        if (this.v21) {
          this.err +=
            `Warning: Unsupported chunk "${type | 0}" of length ${length | 0} in persistent ` +
            `database file at position ${stream.pos}. Ignoring.\n`;
        } else {
          this.err += `Warning: Unsupported chunk "${type | 0}" in persistent database file. Ignoring.\n`;
        }
        stream.skip(length);
        return true;
    }
  }

  private cfg(stream: DbStream, length: number): boolean {
    this.counts.cfg++;
    const cfg = readCfg(stream, this.version, length, this.v21);
    if (cfg === null) return this.corrupt();
    this.text(
      `DB_CHUNK_CFG:\n\tLength: ${length | 0}\n\tShutdown: ${cfg.shutdown}\n\tDB ID size: ${cfg.dbIdSize}\n`,
    );
    if (cfg.dbIdSize !== 8) {
      this.err += `Error: Incompatible database configuration (dbid size is ${cfg.dbIdSize} bytes, expected 8)`;
      return false;
    }
    this.text(`\tLast DB ID: ${cfg.lastDbId}\n`);
    return true;
  }

  private msgStore(stream: DbStream, length: number): boolean {
    this.counts.msgStore++;
    const msg = readMsgStore(stream, this.version, length, this.v21);
    if (msg === null) return this.corrupt();
    if (this.mode === 'json') this.json.baseMessages.push(baseMessageJson(msg));
    if (this.mode === 'client-stats') this.messageLengths.push({ storeId: msg.storeId, length });
    if (this.print) this.printMsgStore(msg, length);
    return true;
  }

  private clientMsg(stream: DbStream, length: number): boolean {
    this.counts.clientMsg++;
    const msg = readClientMsg(stream, this.version, length, this.v21);
    if (msg === null) return this.corrupt();
    if (this.mode === 'client-stats' && msg.clientId !== null) {
      const client = this.findClient(msg.clientId);
      if (client !== undefined) {
        client.messages++;
        client.messageSize += length;
        const stored = this.messageLengths.findLast((m) => m.storeId === msg.storeId);
        if (stored !== undefined) client.messageSize += stored.length;
      }
    }
    if (this.mode === 'json') this.json.clientMessages.push(clientMessageJson(msg));
    if (this.print) this.printClientMsg(msg, length);
    return true;
  }

  private retain(stream: DbStream, length: number): boolean {
    this.counts.retain++;
    this.text(`DB_CHUNK_RETAIN:\n\tLength: ${length | 0}\n`);
    const storeId = readRetain(stream, this.version, length, this.v21);
    if (storeId === null) {
      // 2.0.22 stops here without a word.
      if (this.v21) this.error('Error: Corrupt persistent database.');
      return false;
    }
    if (this.mode === 'json') this.json.retained.push(object([['storeid', raw(storeId)]]));
    this.text(`\tStore ID: ${storeId}\n`);
    return true;
  }

  private sub(stream: DbStream, length: number): boolean {
    this.counts.sub++;
    const sub = readSub(stream, this.version, length, this.v21);
    if (sub === null) return this.corrupt();
    if (this.mode === 'client-stats' && sub.clientId !== null) {
      const client = this.findClient(sub.clientId);
      if (client !== undefined) {
        client.subscriptions++;
        client.subscriptionSize = (client.subscriptionSize + length) >>> 0;
      }
    }
    if (this.mode === 'json') this.json.subscriptions.push(subscriptionJson(sub));
    if (this.print) this.printSub(sub, length);
    return true;
  }

  private client(stream: DbStream, length: number): boolean {
    this.counts.client++;
    const client = readClient(stream, this.version, length, this.v21);
    if (client === null) return this.corrupt();
    if (this.mode === 'client-stats' && client.clientId !== null) {
      this.clients.push({
        id: cString(client.clientId),
        subscriptions: 0,
        subscriptionSize: 0,
        messages: 0,
        messageSize: 0,
      });
    }
    if (this.mode === 'json') this.json.clients.push(clientJson(client));
    if (this.print) this.printClient(client, length);
    return true;
  }

  /** HASH_FIND on the client id as a C string: the most recently added match. */
  private findClient(id: Buffer): ClientStats | undefined {
    const key = cString(id);
    return this.clients.findLast((c) => c.id.equals(key));
  }

  private printMsgStore(msg: RawMsgStore, length: number): void {
    this.text(
      `DB_CHUNK_MSG_STORE:\n\tLength: ${length | 0}\n\tStore ID: ${msg.storeId}\n` +
        `\tSource Port: ${msg.sourcePort}\n\tSource MID: ${msg.sourceMid}\n\tTopic: `,
    );
    this.cText(msg.topic);
    this.text(
      `\n\tQoS: ${msg.qos}\n\tRetain: ${msg.retain}\n\tPayload Length: ${msg.payloadLength | 0}\n` +
        `\tExpiry Time: ${BigInt.asUintN(64, msg.expiryTime)}\n`,
    );
    // Payloads of valid UTF-8 below 256 bytes are printed (as a C string).
    if (msg.payloadLength < 256 && msg.payload !== null && isMosquittoUtf8(msg.payload)) {
      this.text('\tPayload: ');
      this.cText(msg.payload);
      this.text('\n');
    }
    this.printProperties(msg.properties);
  }

  private printClientMsg(msg: RawClientMsg, length: number): void {
    this.text(`DB_CHUNK_CLIENT_MSG:\n\tLength: ${length | 0}\n\tClient ID: `);
    this.cText(msg.clientId);
    this.text(
      `\n\tStore ID: ${msg.storeId}\n\tMID: ${msg.mid}\n\tQoS: ${msg.qos}\n` +
        `\tRetain: ${(msg.retainDup & 0xf0) >> 4}\n\tDirection: ${msg.direction}\n` +
        `\tState: ${msg.state}\n\tDup: ${msg.retainDup & 0x0f}\n`,
    );
    this.printProperties(msg.properties);
  }

  private printSub(sub: RawSub, length: number): void {
    this.text(`DB_CHUNK_SUB:\n\tLength: ${length}\n\tClient ID: `);
    this.cText(sub.clientId);
    this.text('\n\tTopic: ');
    this.cText(sub.topic);
    this.text(
      `\n\tQoS: ${sub.qos}\n\tSubscription ID: ${sub.identifier | 0}\n` +
        `\tOptions: 0x${sub.options.toString(16).toUpperCase().padStart(2, '0')}\n`,
    );
  }

  private printClient(client: RawClient, length: number): void {
    this.text(`DB_CHUNK_CLIENT:\n\tLength: ${length | 0}\n\tClient ID: `);
    this.cText(client.clientId);
    this.text('\n');
    if (client.username !== null) {
      this.text('\tUsername: ');
      this.cText(client.username);
      this.text('\n');
    }
    if (client.listenerPort > 0) this.text(`\tListener port: ${client.listenerPort}\n`);
    this.text(
      `\tLast MID: ${client.lastMid}\n` +
        `\tSession expiry time: ${BigInt.asUintN(64, client.sessionExpiryTime)}\n` +
        `\tSession expiry interval: ${client.sessionExpiryInterval}\n`,
    );
  }

  /** 2.0.22's print__properties(). */
  private printProperties(properties: readonly DbProperty[] | null): void {
    if (properties === null) return;
    this.text('\tProperties:\n');
    for (const p of properties) {
      const label = PROPERTY_LABELS[p.id];
      if (label === undefined) {
        this.text(`\t\tInvalid property type: ${p.id}\n`);
      } else if (p.id === DbPropertyId.UserProperty) {
        this.text(`\t\t${label}: `);
        this.cText(emptyIsNull(p.name));
        this.text(' , ');
        this.cText(emptyIsNull(p.bytes));
        this.text('\n');
      } else if (
        p.id === DbPropertyId.CorrelationData ||
        p.id === DbPropertyId.AuthenticationData
      ) {
        this.text(`\t\t${label}: ${signedCharHex(p.bytes ?? Buffer.alloc(0))}\n`);
      } else if (p.bytes !== null) {
        // An empty string is held as NULL.
        this.text(`\t\t${label}: `);
        this.cText(emptyIsNull(p.bytes));
        this.text('\n');
      } else {
        // %d of the value: signed for the four-byte ones.
        this.text(`\t\t${label}: ${p.number | 0}\n`);
      }
    }
  }

  private printStats(): void {
    const c = this.counts;
    this.out.push(
      Buffer.from(
        `DB_CHUNK_CFG:        ${c.cfg}\nDB_CHUNK_MSG_STORE:  ${c.msgStore}\n` +
          `DB_CHUNK_CLIENT_MSG: ${c.clientMsg}\nDB_CHUNK_RETAIN:     ${c.retain}\n` +
          `DB_CHUNK_SUB:        ${c.sub}\nDB_CHUNK_CLIENT:     ${c.client}\n`,
      ),
    );
  }

  private printClientStats(): void {
    for (const c of this.clients) {
      this.out.push(
        Buffer.from(
          `SC: ${c.subscriptions} SS: ${c.subscriptionSize | 0} MC: ${c.messages} MS: ${c.messageSize}   `,
        ),
        c.id,
        Buffer.from('\n'),
      );
    }
  }

  private printJson(): void {
    const tree = object([
      ['base-messages', array(this.json.baseMessages)],
      ['clients', array(this.json.clients)],
      ['client-messages', array(this.json.clientMessages)],
      ['retained-messages', array(this.json.retained)],
      ['subscriptions', array(this.json.subscriptions)],
    ]);
    const parts: Buffer[] = [];
    renderJson(tree, 0, parts);
    this.out.push(...parts, Buffer.from('\n'));
  }

  /** The file ended inside the file header: 2.0.22 prints strerror(errno), 2.1.2 nothing. */
  private readError(): number {
    if (!this.v21) this.err += `Error: ${this.readErrno}.`;
    return 1;
  }

  private corrupt(): false {
    this.error('Error: Corrupt persistent database.');
    return false;
  }

  /** An error message: 2.1.2 ends it with a newline, 2.0.22 does not. */
  private error(message: string): void {
    this.err += this.v21 ? `${message}\n` : message;
  }

  /** Text for the full dump only (do_print). */
  private text(text: string): void {
    if (this.print) this.out.push(Buffer.from(text, 'utf8'));
  }

  /** printf("%s") of a C string: up to its NUL, "(null)" for NULL. */
  private cText(bytes: Buffer | null): void {
    if (this.print) this.out.push(bytes === null ? Buffer.from('(null)') : cString(bytes));
  }
}

/** The labels of 2.0.22's print__properties(). */
const PROPERTY_LABELS: Readonly<Record<number, string>> = {
  1: 'Payload format indicator',
  23: 'Request problem information',
  25: 'Request response information',
  36: 'Maximum QoS',
  37: 'Retain available',
  40: 'Wildcard sub available',
  41: 'Subscription ID available',
  42: 'Shared subscription available',
  19: 'Server keep alive',
  33: 'Receive maximum',
  34: 'Topic alias maximum',
  35: 'Topic alias',
  2: 'Message expiry interval',
  17: 'Session expiry interval',
  24: 'Will delay interval',
  39: 'Maximum packet size',
  11: 'Subscription identifier',
  3: 'Content type',
  8: 'Response topic',
  18: 'Assigned client identifier',
  21: 'Authentication method',
  26: 'Response information',
  28: 'Server reference',
  31: 'Reason string',
  22: 'Authentication data',
  9: 'Correlation data',
  38: 'User property',
};

/** mosquitto_property_identifier_to_string() for the properties a stored message can have. */
const PROPERTY_NAMES: Readonly<Record<number, string>> = {
  1: 'payload-format-indicator',
  2: 'message-expiry-interval',
  3: 'content-type',
  8: 'response-topic',
  9: 'correlation-data',
  11: 'subscription-identifier',
  35: 'topic-alias',
  38: 'user-property',
};

/**
 * printf("%02X") of each byte of a `char *`: char is signed on x86, so bytes from 0x80 up
 * are sign-extended and print as FFFFFF80 to FFFFFFFF.
 */
function signedCharHex(bytes: Buffer): string {
  let text = '';
  for (const byte of bytes) {
    text += (byte >= 0x80 ? 'FFFFFF' : '') + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return text;
}

/** A C string's bytes: up to the first NUL. */
function cString(bytes: Buffer): Buffer {
  const nul = bytes.indexOf(0);
  return nul === -1 ? bytes : bytes.subarray(0, nul);
}

// --- JSON, as cJSON builds and prints it -------------------------------------------------

type JsonValue =
  | { readonly kind: 'object'; readonly entries: readonly (readonly [string, JsonValue])[] }
  | { readonly kind: 'array'; readonly items: readonly JsonValue[] }
  | { readonly kind: 'string'; readonly bytes: Buffer }
  | { readonly kind: 'raw'; readonly text: string };

type Entry = readonly [string, JsonValue | null];

/** An object; entries whose value is null are left out (cJSON_AddStringToObject(NULL)). */
function object(entries: readonly Entry[]): JsonValue {
  const kept: (readonly [string, JsonValue])[] = [];
  for (const [key, value] of entries) if (value !== null) kept.push([key, value]);
  return { kind: 'object', entries: kept };
}

function array(items: readonly JsonValue[]): JsonValue {
  return { kind: 'array', items };
}

/** A string from a C string; null (so no entry) for NULL. */
function str(bytes: Buffer | null): JsonValue | null {
  return bytes === null ? null : { kind: 'string', bytes: cString(bytes) };
}

/** A number as cJSON prints these (all integers well within 2^53). */
function num(value: number): JsonValue {
  return { kind: 'raw', text: String(value) };
}

/** cJSON_AddUIntToObject (%llu) of a uint64; cJSON_AddIntToObject (%lld) of an int64. */
function raw(value: bigint): JsonValue {
  return { kind: 'raw', text: String(value) };
}

function baseMessageJson(msg: RawMsgStore): JsonValue {
  return object([
    ['storeid', raw(BigInt.asUintN(64, msg.storeId))],
    ['expiry-time', raw(BigInt.asIntN(64, msg.expiryTime))],
    ['source-mid', num(msg.sourceMid)],
    ['source-port', num(msg.sourcePort)],
    ['qos', num(msg.qos)],
    ['retain', num(msg.retain)],
    ['topic', str(msg.topic)],
    ['clientid', str(msg.sourceId)],
    ['username', str(msg.sourceUsername)],
    [
      'payload',
      msg.payloadLength > 0
        ? {
            kind: 'string',
            bytes: Buffer.from((msg.payload ?? Buffer.alloc(0)).toString('base64')),
          }
        : null,
    ],
    ['properties', propertiesJson(msg.properties)],
  ]);
}

/** mosquitto_properties_to_json(): null (no entry) when a value cannot be added. */
function propertiesJson(properties: readonly DbProperty[] | null): JsonValue | null {
  if (properties === null) return null;
  const items: JsonValue[] = [];
  for (const p of properties) {
    const identifier = str(Buffer.from(PROPERTY_NAMES[p.id] ?? ''));
    switch (p.id) {
      case DbPropertyId.PayloadFormatIndicator:
        items.push(
          object([
            ['identifier', identifier],
            ['value', num(p.number)],
          ]),
        );
        break;
      case DbPropertyId.ContentType:
      case DbPropertyId.ResponseTopic:
      case DbPropertyId.ReasonString: {
        // An empty string is read back as NULL, which cJSON refuses: the whole list goes.
        const value = emptyIsNull(p.bytes);
        if (value === null) return null;
        items.push(
          object([
            ['identifier', identifier],
            ['value', str(value)],
          ]),
        );
        break;
      }
      case DbPropertyId.CorrelationData: {
        const hex = (p.bytes ?? Buffer.alloc(0)).toString('hex').toUpperCase();
        items.push(
          object([
            ['identifier', identifier],
            ['value', str(Buffer.from(hex))],
          ]),
        );
        break;
      }
      case DbPropertyId.UserProperty: {
        const name = emptyIsNull(p.name);
        const value = emptyIsNull(p.bytes);
        if (name === null || value === null) return null;
        items.push(
          object([
            ['identifier', identifier],
            ['name', str(name)],
            ['value', str(value)],
          ]),
        );
        break;
      }
      default:
        items.push(object([['identifier', identifier]]));
    }
  }
  return array(items);
}

function emptyIsNull(bytes: Buffer | null): Buffer | null {
  return bytes === null || bytes.length === 0 ? null : bytes;
}

function clientJson(client: RawClient): JsonValue {
  return object([
    ['clientid', str(client.clientId)],
    ['username', str(client.username)],
    ['session-expiry-time', raw(BigInt.asIntN(64, client.sessionExpiryTime))],
    ['session-expiry-interval', num(client.sessionExpiryInterval)],
    ['last-mid', num(client.lastMid)],
    ['listener-port', num(client.listenerPort)],
  ]);
}

function clientMessageJson(msg: RawClientMsg): JsonValue {
  // 2.1 keeps only the Subscription Identifier of a client message's properties, and its
  // json.c prints that under "storeid" too.
  let subscriptionIdentifier = 0;
  for (const p of msg.properties ?? []) {
    if (p.id === DbPropertyId.SubscriptionIdentifier) subscriptionIdentifier = p.number;
  }
  return object([
    ['clientid', str(msg.clientId)],
    ['storeid', num(subscriptionIdentifier)],
    ['mid', num(msg.mid)],
    ['qos', num(msg.qos)],
    ['state', num(msg.state)],
    ['retain-dup', num(msg.retainDup)],
    ['direction', num(msg.direction)],
    ['subscription-identifier', num(subscriptionIdentifier)],
  ]);
}

function subscriptionJson(sub: RawSub): JsonValue {
  return object([
    ['clientid', str(sub.clientId)],
    ['topic', str(sub.topic)],
    ['qos', num(sub.qos)],
    ['options', num(sub.options)],
    ['identifier', num(sub.identifier)],
  ]);
}

/** cJSON_Print(): tabs, "key":<tab>value, arrays inline with ", " between items. */
function renderJson(value: JsonValue, depth: number, out: Buffer[]): void {
  switch (value.kind) {
    case 'raw':
      out.push(Buffer.from(value.text));
      return;
    case 'string':
      out.push(jsonString(value.bytes));
      return;
    case 'array':
      out.push(Buffer.from('['));
      value.items.forEach((item, i) => {
        if (i > 0) out.push(Buffer.from(', '));
        renderJson(item, depth + 1, out);
      });
      out.push(Buffer.from(']'));
      return;
    case 'object':
      out.push(Buffer.from('{\n'));
      value.entries.forEach(([key, item], i) => {
        out.push(
          Buffer.from('\t'.repeat(depth + 1)),
          jsonString(Buffer.from(key)),
          Buffer.from(':\t'),
        );
        renderJson(item, depth + 1, out);
        out.push(Buffer.from(i < value.entries.length - 1 ? ',\n' : '\n'));
      });
      out.push(Buffer.from(`${'\t'.repeat(depth)}}`));
      return;
  }
}

/** cJSON's print_string_ptr(): bytes above 0x7f are copied as they are. */
function jsonString(bytes: Buffer): Buffer {
  const out: number[] = [0x22];
  for (const byte of bytes) {
    const escape = JSON_ESCAPES[byte];
    if (escape !== undefined) {
      out.push(0x5c, escape);
    } else if (byte < 0x20) {
      for (const c of `\\u${byte.toString(16).padStart(4, '0')}`) out.push(c.charCodeAt(0));
    } else {
      out.push(byte);
    }
  }
  out.push(0x22);
  return Buffer.from(out);
}

const JSON_ESCAPES: Readonly<Record<number, number>> = {
  0x22: 0x22, // "
  0x5c: 0x5c, // \
  0x08: 0x62, // b
  0x0c: 0x66, // f
  0x0a: 0x6e, // n
  0x0d: 0x72, // r
  0x09: 0x74, // t
};
