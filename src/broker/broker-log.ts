/**
 * What the broker core needs from a logger: one method per Mosquitto log type and a
 * cheap `enabled()` check so debug lines are never formatted when nobody reads them.
 * The mosquitto-format Logger (log.ts) satisfies it; tests pass a capturing one.
 */
import type { LogFields, LogType } from './config/types.ts';

/**
 * `fields` are the event's structured data, for JSON log lines (log_dest_json); the
 * Mosquitto-format line is `message` alone.
 */
export interface BrokerLog {
  error(message: string, fields?: LogFields): void;
  warning(message: string, fields?: LogFields): void;
  notice(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string): void;
  subscribe(message: string): void;
  unsubscribe(message: string): void;
  enabled(type: LogType): boolean;
}

function ignore(_message: string): void {
  // Logging disabled.
}

/** Logs nothing (the library default). */
export const silentLog: BrokerLog = {
  error: ignore,
  warning: ignore,
  notice: ignore,
  info: ignore,
  debug: ignore,
  subscribe: ignore,
  unsubscribe: ignore,
  enabled: () => false,
};

export interface LoggedLine {
  readonly type: LogType;
  readonly message: string;
}

/** Keeps every line in memory (tests grep it). */
export class MemoryLog implements BrokerLog {
  readonly lines: LoggedLine[] = [];
  readonly types: ReadonlySet<LogType> | null;

  /** `types` null records every type. */
  constructor(types: ReadonlySet<LogType> | null = null) {
    this.types = types;
  }

  enabled(type: LogType): boolean {
    return this.types === null || this.types.has(type);
  }

  #add(type: LogType, message: string): void {
    if (this.enabled(type)) this.lines.push({ type, message });
  }

  error(message: string): void {
    this.#add('error', message);
  }
  warning(message: string): void {
    this.#add('warning', message);
  }
  notice(message: string): void {
    this.#add('notice', message);
  }
  info(message: string): void {
    this.#add('information', message);
  }
  debug(message: string): void {
    this.#add('debug', message);
  }
  subscribe(message: string): void {
    this.#add('subscribe', message);
  }
  unsubscribe(message: string): void {
    this.#add('unsubscribe', message);
  }

  /** Messages only, for assertions. */
  messages(): string[] {
    return this.lines.map((line) => line.message);
  }
}
