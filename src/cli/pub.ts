/**
 * mosquitto_pub: connect, publish one message (-m, -f, -s, -n; --repeat times) or one
 * message per stdin line (-l), wait for each acknowledgement, disconnect
 * (pub_client.c, pub_shared.c). Output and exit statuses follow Mosquitto 2.0.22.
 *
 * With -l the connection is kept as libmosquitto's threaded loop keeps it: a lost
 * connection is retried every second while stdin is read on, and a refused reconnection
 * ends the tool as a refused first connection does.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { MqttClient } from '../client/client.ts';
import { systemClock } from '../common/clock.ts';
import {
  ClientErrorCode,
  ConnectionRefusedError,
  MosqErr,
  MqttClientError,
  mosquittoStrerror,
  ReasonCodeError,
  reasonString,
} from '../client/errors.ts';
import { MessageMode, type ToolConfig } from './args/config.ts';
import { MQTT_MAX_PAYLOAD } from './args/options.ts';
import { toProperties } from './args/properties.ts';
import { buildClientOptions } from './client-options.ts';
import { processIo, type ToolIo } from './io.ts';
import { startTool } from './tool-start.ts';
import {
  connectionErrorLine,
  isConnectFailure,
  loopErrno,
  loopErrorLine,
  refusalLoopError,
  reportConnectFailure,
} from './report.ts';

/** Entry point of `mosquitto_pub`. */
export function main(argv: readonly string[]): Promise<number> {
  return runPub(argv, processIo());
}

export async function runPub(argv: readonly string[], io: ToolIo): Promise<number> {
  const started = await startTool('pub', argv, io);
  if (typeof started === 'number') return started;
  const cfg = started;
  const errPrintf = (text: string): void => {
    if (!cfg.quiet) io.err(text);
  };

  if (cfg.pubMode === MessageMode.StdinFile) {
    const input = await io.readStdin();
    const problem =
      input.length > MQTT_MAX_PAYLOAD
        ? `Error: Message length must be less than ${MQTT_MAX_PAYLOAD} bytes.\n\n`
        : input.length === 0
          ? 'Error: Zero length input.\n'
          : null;
    if (problem !== null) {
      errPrintf(problem);
      errPrintf('Error loading input from stdin.\n');
      return 1;
    }
    cfg.message = input;
  } else if (cfg.fileInput !== null) {
    const problem = loadFile(cfg, cfg.fileInput);
    if (problem !== null) {
      errPrintf(problem);
      errPrintf(`Error loading input file "${cfg.fileInput}".\n`);
      return 1;
    }
  }
  if (cfg.topic === null || cfg.pubMode === MessageMode.None) {
    io.err('Error: Both topic and message must be supplied.\n');
    io.out((await import('./args/help.ts')).usageText('pub'));
    return 1;
  }
  const built = buildClientOptions(cfg, io.pid);
  if (!built.ok) {
    if (built.error !== '' && !(built.quietable && cfg.quiet)) io.err(built.error);
    return 1;
  }
  return new Publisher(cfg, io, errPrintf).run(built.options);
}

function loadFile(cfg: ToolConfig, path: string): string | null {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    return `Error: Unable to open file "${path}".\n`;
  }
  if (bytes.length > MQTT_MAX_PAYLOAD) {
    return `Error: File must be less than ${MQTT_MAX_PAYLOAD} bytes.\n\n`;
  }
  cfg.message = bytes;
  return null;
}

/** The library's refusals of a publish it never sent (mosquitto_publish's own errors). */
const REFUSED_BEFORE_SENDING: ReadonlySet<string> = new Set([
  ClientErrorCode.InvalidArgument,
  ClientErrorCode.NotSupported,
  ClientErrorCode.PacketTooLarge,
]);

/** One run of the tool: the connection, the publishes, and how it all ends. */
class Publisher {
  private client: MqttClient | null = null;
  private finished = false;
  private resolveRun: (status: number) => void = () => undefined;
  private readonly status = new Promise<number>((resolve) => {
    this.resolveRun = resolve;
  });
  private stopStdin: (() => void) | null = null;
  private firstPublish = true;
  private published = 0;
  private readingLines = false;
  private readonly properties;

  constructor(
    private readonly cfg: ToolConfig,
    private readonly io: ToolIo,
    private readonly errPrintf: (text: string) => void,
  ) {
    this.properties = toProperties(cfg.properties.publish);
  }

  async run(options: Parameters<typeof MqttClient.connect>[0]): Promise<number> {
    const cfg = this.cfg;
    const lineMode = cfg.pubMode === MessageMode.StdinLine;
    try {
      this.client = await MqttClient.connect({
        ...options,
        // libmosquitto's defaults: every second, no backoff.
        ...(lineMode ? { reconnect: { delayMs: 1000, maxDelayMs: 1000 } } : {}),
        observer: {
          ...(cfg.debug
            ? {
                log: (line: string) => {
                  this.io.out(`${line}\n`);
                },
              }
            : {}),
          connect: (_connack, client) => {
            this.client = client;
            this.onConnect();
          },
          disconnect: (error) => {
            // Only a reconnection the broker refuses ends -l; a lost one is retried.
            if (error instanceof ConnectionRefusedError && !this.finished) {
              this.finished = true;
              this.resolveStatus(this.connectFailed(error));
              this.client?.destroy();
            }
          },
        },
      });
    } catch (error) {
      return this.connectFailed(error);
    }
    void this.client.closed().then((error) => {
      if (error !== null) this.fail(error.mosqErrno);
    });
    return this.status;
  }

  /** The run's exit status is known: stop reading stdin (-l) so the process can end. */
  private resolveStatus(status: number): void {
    this.stopStdin?.();
    this.stopStdin = null;
    this.resolveRun(status);
  }

  private connectFailed(error: unknown): number {
    if (error instanceof ConnectionRefusedError) {
      this.errPrintf(connectionErrorLine(error, this.cfg.protocolVersion));
      // -l's stdin loop reports any refusal as MOSQ_ERR_CONN_REFUSED itself.
      const loopError =
        this.cfg.pubMode === MessageMode.StdinLine ? MosqErr.ConnRefused : refusalLoopError(error);
      this.errPrintf(loopErrorLine(loopError));
      return error.reasonCode;
    }
    if (error instanceof MqttClientError) {
      if (isConnectFailure(error)) {
        return reportConnectFailure(error, this.cfg, this.io, this.errPrintf);
      }
      this.errPrintf(loopErrorLine(loopErrno(error)));
      return loopErrno(error);
    }
    throw error;
  }

  /** The loop ended with a libmosquitto error. */
  private fail(mosqErrno: number): void {
    if (this.finished) return;
    this.finished = true;
    this.errPrintf(loopErrorLine(mosqErrno));
    this.resolveStatus(mosqErrno);
  }

  /** Orderly end: DISCONNECT, status 0. */
  private disconnect(): void {
    if (this.finished) return;
    this.finished = true;
    const client = this.client;
    const properties = toProperties(this.cfg.properties.disconnect);
    if (client === null) {
      this.resolveStatus(0);
      return;
    }
    void client.end({ properties }).then(() => {
      this.resolveStatus(0);
    });
  }

  private onConnect(): void {
    this.firstPublish = true;
    if (this.cfg.pubMode === MessageMode.StdinLine) {
      // On a reconnection stdin is already being read; lines sent meanwhile were queued.
      if (!this.readingLines) this.readLines();
      this.readingLines = true;
      return;
    }
    this.publishOnce();
  }

  /** my_publish: with a PUBLISH topic alias, only the first publish carries the topic. */
  private send(payload: Buffer): Promise<unknown> | null {
    const client = this.client;
    if (client === null) return null;
    const cfg = this.cfg;
    let topic = cfg.topic ?? '';
    if (cfg.protocolVersion === 5 && cfg.haveTopicAlias && !this.firstPublish) topic = '';
    this.firstPublish = false;
    try {
      return client.publish(topic, payload, {
        qos: cfg.qos as 0 | 1 | 2,
        retain: cfg.retain,
        properties: this.properties,
      });
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private publishOnce(): void {
    const payload =
      this.cfg.pubMode === MessageMode.Null
        ? Buffer.alloc(0)
        : (this.cfg.message ?? Buffer.alloc(0));
    const sent = this.send(payload);
    if (sent === null) return;
    sent.then(
      () => {
        this.acknowledged();
      },
      (error: unknown) => {
        if (error instanceof ReasonCodeError) {
          this.warnFailed(error);
          this.acknowledged();
        } else if (!this.publishRefused(error, this.published === 0)) {
          this.disconnect();
        }
      },
    );
  }

  /** "Warning: Publish 1 failed: Not authorized." and the broker's reason string. */
  private warnFailed(error: ReasonCodeError): void {
    this.errPrintf(`Warning: Publish ${error.mid} failed: ${reasonString(error.reasonCode)}.\n`);
    const reason = error.properties.reasonString;
    if (reason !== undefined) this.errPrintf(`${reason}\n`);
  }

  /**
   * A publish the library refused before sending it. The first one is reported as the
   * connect callback does (then DISCONNECT, status 0); a repeat one ends the loop with the
   * error. Returns true when it ended the run itself.
   */
  private publishRefused(error: unknown, first: boolean): boolean {
    if (!(error instanceof MqttClientError)) throw error;
    if (error.code === ClientErrorCode.ClientClosed || this.finished) return true;
    if (!REFUSED_BEFORE_SENDING.has(error.code)) {
      // Not a refusal but the connection failing while the publish was in flight (e.g. a
      // PUBACK reason code libmosquitto rejects as a protocol error): the loop's error.
      this.fail(error.mosqErrno);
      return true;
    }
    if (first) {
      if (error.mosqErrno === MosqErr.QosNotSupported) {
        this.errPrintf('Error: Message QoS not supported on broker, try a lower QoS.\n');
      } else if (error.mosqErrno === MosqErr.PayloadSize) {
        this.errPrintf('Error: Message payload is too large.\n');
      } else if (error.mosqErrno === MosqErr.Inval) {
        this.errPrintf("Error: Invalid input. Does your topic contain '+' or '#'?\n");
      }
      return false;
    }
    this.errPrintf(`Error sending repeat publish: ${mosquittoStrerror(error.mosqErrno)}`);
    this.fail(error.mosqErrno);
    return true;
  }

  /** my_publish_callback for -m/-f/-s/-n: repeat, or disconnect. */
  private acknowledged(): void {
    this.published++;
    if (this.published < this.cfg.repeatCount) {
      const delayMs = this.cfg.repeatDelayUs / 1000;
      // Chained past setTimeout's 24.8-day limit; the connection keeps the process alive.
      systemClock.setTimer(() => {
        if (!this.finished) this.publishOnce();
      }, delayMs);
    } else {
      this.disconnect();
    }
  }

  /** -l: one message per line of stdin; disconnect once the last one is acknowledged. */
  private readLines(): void {
    let pending: Buffer = Buffer.alloc(0);
    let outstanding = 0;
    let sentAny = false;
    let ended = false;
    const settle = (): void => {
      outstanding--;
      if (ended && outstanding === 0) this.disconnect();
    };
    const publishLine = (line: Buffer): void => {
      const sent = this.send(line);
      if (sent === null) return;
      sentAny = true;
      outstanding++;
      sent.then(settle, (error: unknown) => {
        if (error instanceof ReasonCodeError) {
          this.warnFailed(error);
          settle();
        } else if (
          error instanceof MqttClientError &&
          error.code !== ClientErrorCode.ClientClosed
        ) {
          this.fail(error.mosqErrno);
        }
      });
    };
    this.stopStdin = this.io.streamStdin(
      (chunk) => {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        let newline = pending.indexOf(0x0a);
        while (newline >= 0 && !this.finished) {
          publishLine(pending.subarray(0, newline));
          pending = pending.subarray(newline + 1);
          newline = pending.indexOf(0x0a);
        }
      },
      () => {
        if (pending.length > 0 && !this.finished) publishLine(pending);
        ended = true;
        if (!sentAny || outstanding === 0) this.disconnect();
      },
    );
  }
}
