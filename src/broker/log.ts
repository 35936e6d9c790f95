/**
 * The broker's log, in Mosquitto's format: `<timestamp>: <text>`, where the timestamp is
 * Unix seconds or `log_timestamp_format` passed through strftime (local time), the line
 * cut at 999 bytes. `log_type` selects the types; `log_dest` the destinations: stdout,
 * stderr, one file (reopened on SIGHUP), and `$SYS/broker/log/<E|W|N|I|M/subscribe|
 * M/unsubscribe|WS>` through a publisher the broker installs (never debug or internal
 * lines, as in Mosquitto). syslog is not supported yet: the logger says so once and
 * writes to stderr instead.
 *
 * `log_dest_json` (ours) adds JSON lines, one object per line with `time` (ISO 8601, UTC),
 * `level` (the log type), `message` (the text, untruncated, without timestamp) and the
 * event's own fields where the caller gives them (`client_id`, `address`, ...).
 *
 * Writes are collected and flushed once per event-loop turn (one write per destination),
 * and synchronously by flush()/close() and, when asked, at process exit.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Clock } from '../common/clock.ts';
import { systemClock } from '../common/clock.ts';
import { strftime } from '../common/strftime.ts';
import type {
  JsonLogDestination,
  LogConfig,
  LogDestination,
  LogFields,
  LogType,
} from './config/types.ts';

/** Where console lines go (process.stdout / process.stderr by default). */
export interface LogSink {
  write(text: string): void;
}

/** An open log file. */
export interface LogFile {
  write(text: string): void;
  close(): void;
}

/** Publishes one log line (QoS 2, not retained, message expiry 20 s in Mosquitto). */
export type TopicPublisher = (topic: string, line: string) => void;

export interface LoggerOptions {
  readonly clock?: Clock;
  readonly stdout?: LogSink;
  readonly stderr?: LogSink;
  /** Opens `log_dest file` for appending (mode 0600 when created); throws on failure. */
  readonly openFile?: (path: string) => LogFile;
  /** Runs `flush` later in this turn of the event loop; setImmediate by default. */
  readonly schedule?: (flush: () => void) => void;
  /** Flush pending lines synchronously when the process exits. */
  readonly flushOnExit?: boolean;
}

/** The `$SYS/broker/log/...` topic of each type published to (debug/internal: none). */
const TOPIC_OF_TYPE: Readonly<Record<LogType, string | null>> = {
  error: '$SYS/broker/log/E',
  warning: '$SYS/broker/log/W',
  notice: '$SYS/broker/log/N',
  information: '$SYS/broker/log/I',
  subscribe: '$SYS/broker/log/M/subscribe',
  unsubscribe: '$SYS/broker/log/M/unsubscribe',
  websockets: '$SYS/broker/log/WS',
  debug: null,
  internal: null,
};

/** Mosquitto's `char log_line[1000]`, NUL included. */
const MAX_LINE_BYTES = 999;

const consoleSink = (stream: NodeJS.WriteStream): LogSink => ({
  write: (text) => {
    stream.write(text);
  },
});

function openAppendFile(path: string): LogFile {
  const fd = openSync(path, 'a', 0o600);
  return {
    write: (text) => {
      try {
        writeSync(fd, text);
      } catch {
        // A full disk or a vanished file must not take the broker down.
      }
    },
    close: () => {
      closeSync(fd);
    },
  };
}

export class Logger {
  readonly #clock: Clock;
  readonly #stdout: LogSink;
  readonly #stderr: LogSink;
  readonly #openFile: (path: string) => LogFile;
  readonly #schedule: (flush: () => void) => void;

  #timestamp = true;
  #timestampFormat: string | null = null;
  #types: ReadonlySet<LogType> = new Set();
  #toStdout = false;
  #toStderr = false;
  #toTopic = false;
  #filePath: string | null = null;
  #file: LogFile | null = null;
  #publisher: TopicPublisher | null = null;
  #jsonStdout = false;
  #jsonStderr = false;
  #jsonFilePath: string | null = null;
  #jsonFile: LogFile | null = null;
  #pendingJsonFile = '';

  #pendingStdout = '';
  #pendingStderr = '';
  #pendingFile = '';
  #pendingTopic: [string, string][] = [];
  #flushScheduled = false;
  #closed = false;

  /** The last timestamp prefix and the second it was made for. */
  #prefixSecond = -1;
  #prefix = '';

  readonly #flushNow = (): void => {
    this.#flushScheduled = false;
    this.flush();
  };

  constructor(config: LogConfig, options: LoggerOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#stdout = options.stdout ?? consoleSink(process.stdout);
    this.#stderr = options.stderr ?? consoleSink(process.stderr);
    this.#openFile = options.openFile ?? openAppendFile;
    this.#schedule =
      options.schedule ??
      ((flush) => {
        // Ref'd on purpose: an unref'd immediate does not keep libuv's poll phase from
        // blocking, so a line logged while the loop is idle would wait for the next I/O.
        setImmediate(flush);
      });
    if (options.flushOnExit === true) {
      process.once('exit', () => {
        this.close();
      });
    }
    this.#apply(config);
  }

  /** New settings after a SIGHUP reload (reopens the log file). */
  reconfigure(config: LogConfig): void {
    this.flush();
    this.#closeFile();
    this.#apply(config);
  }

  /** The broker's $SYS publisher for `log_dest topic`; null before the broker runs. */
  setTopicPublisher(publisher: TopicPublisher | null): void {
    this.#publisher = publisher;
  }

  /** Whether lines of `type` go anywhere: check before building costly debug lines. */
  enabled(type: LogType): boolean {
    return this.#types.has(type);
  }

  log(type: LogType, text: string, fields?: LogFields): void {
    if (!this.#types.has(type) || this.#closed) return;
    this.#write(type, this.#format(text));
    if (this.#jsonStdout || this.#jsonStderr || this.#jsonFile !== null) {
      this.#writeJson(type, text, fields);
    }
  }

  error(text: string, fields?: LogFields): void {
    this.log('error', text, fields);
  }
  warning(text: string, fields?: LogFields): void {
    this.log('warning', text, fields);
  }
  notice(text: string, fields?: LogFields): void {
    this.log('notice', text, fields);
  }
  info(text: string, fields?: LogFields): void {
    this.log('information', text, fields);
  }
  debug(text: string): void {
    this.log('debug', text);
  }
  subscribe(text: string): void {
    this.log('subscribe', text);
  }
  unsubscribe(text: string): void {
    this.log('unsubscribe', text);
  }
  websockets(text: string): void {
    this.log('websockets', text);
  }
  internal(text: string): void {
    this.log('internal', text);
  }

  /** Writes everything pending now, synchronously. */
  flush(): void {
    if (this.#pendingStdout !== '') {
      const text = this.#pendingStdout;
      this.#pendingStdout = '';
      this.#stdout.write(text);
    }
    if (this.#pendingStderr !== '') {
      const text = this.#pendingStderr;
      this.#pendingStderr = '';
      this.#stderr.write(text);
    }
    if (this.#pendingFile !== '') {
      const text = this.#pendingFile;
      this.#pendingFile = '';
      this.#file?.write(text);
    }
    if (this.#pendingJsonFile !== '') {
      const text = this.#pendingJsonFile;
      this.#pendingJsonFile = '';
      this.#jsonFile?.write(text);
    }
    if (this.#pendingTopic.length > 0) {
      const lines = this.#pendingTopic;
      this.#pendingTopic = [];
      const publisher = this.#publisher;
      if (publisher !== null) for (const [topic, line] of lines) publisher(topic, line);
    }
  }

  /** SIGHUP: close and reopen the log file (log rotation). */
  reopen(): void {
    this.flush();
    this.#closeFile();
    this.#openLogFile();
    this.#openJsonFile();
  }

  /** Flushes and closes the file; later lines are dropped. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closeFile();
    this.#closed = true;
  }

  #write(type: LogType, line: string): void {
    if (this.#toStdout) this.#pendingStdout += line + '\n';
    if (this.#toStderr) this.#pendingStderr += line + '\n';
    if (this.#file !== null) this.#pendingFile += line + '\n';
    if (this.#toTopic) {
      const topic = TOPIC_OF_TYPE[type];
      if (topic !== null) this.#pendingTopic.push([topic, line]);
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      this.#schedule(this.#flushNow);
    }
  }

  /** One JSON line: time, level, message, then the event's fields. */
  #writeJson(type: LogType, text: string, fields: LogFields | undefined): void {
    const ms = this.#clock === systemClock ? Date.now() : this.#clock.wallSeconds() * 1000;
    const line =
      JSON.stringify({
        time: new Date(ms).toISOString(),
        level: type,
        message: text,
        ...fields,
      }) + '\n';
    if (this.#jsonStdout) this.#pendingStdout += line;
    if (this.#jsonStderr) this.#pendingStderr += line;
    if (this.#jsonFile !== null) this.#pendingJsonFile += line;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      this.#schedule(this.#flushNow);
    }
  }

  #applyJson(destinations: readonly JsonLogDestination[]): void {
    this.#jsonStdout = destinations.some((d) => d.kind === 'stdout');
    this.#jsonStderr = destinations.some((d) => d.kind === 'stderr');
    const file = destinations.find((d) => d.kind === 'file');
    this.#jsonFilePath = file?.kind === 'file' ? file.path : null;
    this.#openJsonFile();
  }

  #openJsonFile(): void {
    const path = this.#jsonFilePath;
    if (path === null) return;
    try {
      this.#jsonFile = this.#openFile(path);
    } catch {
      this.#jsonFile = null;
      this.error(`Error: Unable to open log file ${path} for writing.`);
    }
  }

  #apply(config: LogConfig): void {
    this.#applyJson(config.jsonDestinations ?? []);
    this.#timestamp = config.timestamp;
    this.#timestampFormat = config.timestampFormat;
    this.#types = config.types;
    this.#prefixSecond = -1;
    const kinds = new Set(config.destinations.map((d) => d.kind));
    this.#toStdout = kinds.has('stdout');
    this.#toStderr = kinds.has('stderr');
    this.#toTopic = kinds.has('topic');
    this.#filePath = config.destinations.find(isFileDestination)?.path ?? null;
    const syslogFallback = kinds.has('syslog') && !this.#toStderr;
    if (syslogFallback) this.#toStderr = true;
    this.#openLogFile();
    if (kinds.has('syslog')) {
      // Shown whatever log_type says: the operator must learn where the lines went.
      this.#write(
        'warning',
        this.#format(
          `Warning: log_dest syslog is not supported by mosquitto-ts yet; ${
            syslogFallback ? 'logging to stderr instead' : 'ignoring it'
          }.`,
        ),
      );
    }
  }

  #openLogFile(): void {
    const path = this.#filePath;
    if (path === null) return;
    try {
      this.#file = this.#openFile(path);
    } catch {
      // As Mosquitto: fall back to errors only, on stderr.
      this.#toStdout = false;
      this.#toTopic = false;
      this.#toStderr = true;
      this.#types = new Set<LogType>(['error']);
      this.error(`Error: Unable to open log file ${path} for writing.`);
    }
  }

  #closeFile(): void {
    const file = this.#file;
    this.#file = null;
    file?.close();
    const jsonFile = this.#jsonFile;
    this.#jsonFile = null;
    jsonFile?.close();
  }

  #format(text: string): string {
    let line = text;
    if (this.#timestamp) {
      const second = this.#clock.wallSeconds();
      if (second !== this.#prefixSecond) {
        this.#prefixSecond = second;
        this.#prefix = timestampPrefix(second, this.#timestampFormat);
      }
      line = this.#prefix + text;
    }
    // Only a line of more than 333 characters can exceed 999 bytes.
    if (line.length > MAX_LINE_BYTES / 3 && Buffer.byteLength(line) > MAX_LINE_BYTES) {
      line = truncateUtf8(line, MAX_LINE_BYTES);
    }
    return line;
  }
}

function isFileDestination(
  d: LogDestination,
): d is Extract<LogDestination, { readonly kind: 'file' }> {
  return d.kind === 'file';
}

function timestampPrefix(second: number, format: string | null): string {
  if (format === null) return `${second}: `;
  let stamp = strftime(format, new Date(second * 1000));
  // strftime() returns 0 for an empty or over-long result; Mosquitto then prints this.
  if (stamp === '' || Buffer.byteLength(stamp) >= 1000) stamp = 'Time error';
  return Buffer.byteLength(stamp) < 997 ? `${stamp}: ` : stamp;
}

/** Cuts to at most `maxBytes` of UTF-8 without splitting a character. */
function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  let end = maxBytes;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}
