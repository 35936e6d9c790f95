/**
 * mosquitto_rr: request/response over MQTT 5 (rr_client.c). Connect, subscribe to the
 * response topic (-e), publish the request with that Response Topic once the SUBACK
 * grants it, print the first response (same options as mosquitto_sub), and close. Like
 * the C tool, it closes the socket after the response without sending DISCONNECT.
 *
 * Deliberate deviation: 2.0.22 sends an empty request for -f and -s (it never reads the
 * file or stdin; fixed in 2.1). We send the file's or stdin's content.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { MqttClient } from '../client/client.ts';
import { systemClock, type TimerHandle } from '../common/clock.ts';
import {
  ClientErrorCode,
  ConnectionRefusedError,
  MqttClientError,
  ReasonCodeError,
  reasonString,
} from '../client/errors.ts';
import type { ReceivedMessage } from '../client/message.ts';
import { PacketType } from '../protocol/constants.ts';
import type { Packet } from '../protocol/packets.ts';
import { MessageMode, type ToolConfig } from './args/config.ts';
import { checkPropertyList, toProperties } from './args/properties.ts';
import { buildClientOptions } from './client-options.ts';
import { printMessage } from './format.ts';
import { processIo, type ToolIo } from './io.ts';
import { startTool } from './tool-start.ts';
import {
  connectionErrorLine,
  isConnectFailure,
  loopErrno,
  loopErrorLine,
  reportConnectFailure,
} from './report.ts';

/** Entry point of `mosquitto_rr`. */
export function main(argv: readonly string[]): Promise<number> {
  return runRr(argv, processIo());
}

export async function runRr(argv: readonly string[], io: ToolIo): Promise<number> {
  const started = await startTool('rr', argv, io);
  if (typeof started === 'number') return started;
  const cfg = started;
  const errPrintf = (text: string): void => {
    if (!cfg.quiet) io.err(text);
  };
  if (cfg.topic === null || cfg.pubMode === MessageMode.None || cfg.responseTopic === null) {
    io.err('Error: All of topic, message, and response topic must be supplied.\n');
    io.err("\nUse 'mosquitto_rr --help' to see usage.\n");
    return 1;
  }
  cfg.properties.publish.push({ name: 'responseTopic', value: cfg.responseTopic });
  if (checkPropertyList(cfg.properties.publish, 3) !== null) {
    errPrintf('Error in PUBLISH properties: Duplicate response topic.\n');
    return 1;
  }
  if (cfg.pubMode === MessageMode.File && cfg.fileInput !== null) {
    try {
      cfg.message = readFileSync(cfg.fileInput);
    } catch {
      errPrintf(`Error: Unable to open file "${cfg.fileInput}".\n`);
      return 1;
    }
  } else if (cfg.pubMode === MessageMode.StdinFile) {
    cfg.message = await io.readStdin();
  }
  const built = buildClientOptions(cfg, io.pid);
  if (!built.ok) {
    if (built.error !== '' && !(built.quietable && cfg.quiet)) io.err(built.error);
    return 1;
  }
  return new Requester(cfg, io, errPrintf).run(built.options);
}

class Requester {
  private client: MqttClient | null = null;
  private processMessages = true;
  private timedOut = false;
  private finished = false;
  private resolveStatus: (status: number) => void = () => undefined;
  private readonly status = new Promise<number>((resolve) => {
    this.resolveStatus = resolve;
  });

  constructor(
    private readonly cfg: ToolConfig,
    private readonly io: ToolIo,
    private readonly errPrintf: (text: string) => void,
  ) {}

  async run(options: Parameters<typeof MqttClient.connect>[0]): Promise<number> {
    const cfg = this.cfg;
    const abort = new AbortController();
    // systemClock's timers chain past setTimeout's 24.8-day limit (-W takes up to INT_MAX s).
    let timer: TimerHandle | null = null;
    if (cfg.timeout > 0) {
      timer = systemClock.setTimer(() => {
        this.timedOut = true;
        this.processMessages = false;
        if (this.client === null) abort.abort();
        else this.close(0x04);
      }, cfg.timeout * 1000);
    }
    try {
      this.client = await MqttClient.connect({
        ...options,
        disconnectOnRefusal: true,
        signal: abort.signal,
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
            client
              .subscribe(cfg.responseTopic ?? '', {
                qos: cfg.qos as 0 | 1 | 2,
                properties: toProperties(cfg.properties.subscribe),
              })
              .catch(() => undefined);
          },
          packet: (packet) => {
            this.onPacket(packet);
          },
          message: (message) => {
            this.onMessage(message);
          },
        },
      });
      void this.client.closed().then((error) => {
        if (error !== null) this.finish(error.mosqErrno);
      });
      return await this.status;
    } catch (error) {
      return this.connectFailed(error);
    } finally {
      if (timer !== null) systemClock.cancel(timer);
    }
  }

  private connectFailed(error: unknown): number {
    if (this.timedOut) return this.finalStatus(0);
    if (error instanceof ConnectionRefusedError) {
      this.errPrintf(connectionErrorLine(error, this.cfg.protocolVersion, true));
      // The connect callback disconnected: the loop ends without an error of its own.
      return error.reasonCode;
    }
    if (error instanceof MqttClientError) {
      if (isConnectFailure(error)) {
        return reportConnectFailure(error, this.cfg, this.io, this.errPrintf);
      }
      return this.finalStatus(loopErrno(error));
    }
    throw error;
  }

  private finalStatus(loopError: number): number {
    if (this.timedOut) {
      this.errPrintf('Timed out\n');
      return 27;
    }
    if (loopError !== 0) this.errPrintf(loopErrorLine(loopError));
    return loopError;
  }

  private finish(loopError: number): void {
    if (this.finished) return;
    this.finished = true;
    this.resolveStatus(this.finalStatus(loopError));
  }

  /** mosquitto_disconnect_v5: DISCONNECT (with `reasonCode`), then the loop ends. */
  private close(reasonCode: number): void {
    if (this.finished) return;
    this.finished = true;
    const client = this.client;
    const end =
      client === null
        ? Promise.resolve()
        : client.end({ reasonCode, properties: toProperties(this.cfg.properties.disconnect) });
    void end.then(() => {
      this.resolveStatus(this.finalStatus(0));
    });
  }

  private onPacket(packet: Packet): void {
    if (packet.type !== PacketType.Suback) return;
    const code = packet.reasonCodes[0] ?? 0x80;
    if (code >= 128) {
      this.errPrintf(`${reasonString(code)}\n`);
      this.close(0);
      return;
    }
    this.publishRequest();
  }

  private publishRequest(): void {
    const client = this.client;
    const cfg = this.cfg;
    if (client === null) return;
    const payload =
      cfg.pubMode === MessageMode.Null ? Buffer.alloc(0) : (cfg.message ?? Buffer.alloc(0));
    client
      .publish(cfg.topic ?? '', payload, {
        qos: cfg.qos as 0 | 1 | 2,
        retain: cfg.retain,
        properties: cfg.protocolVersion < 5 ? {} : toProperties(cfg.properties.publish),
      })
      .catch((error: unknown) => {
        // mosquitto_rr's publish callback ignores the PUBACK/PUBREC reason code: a refused
        // request still waits for a response (until -W, if given).
        if (error instanceof ReasonCodeError) return;
        if (error instanceof MqttClientError && error.code !== ClientErrorCode.ClientClosed) {
          this.finish(error.mosqErrno);
          client.destroy();
        }
      });
  }

  /** The response: print it and close (no DISCONNECT, as mosquitto_rr just destroys). */
  private onMessage(message: ReceivedMessage): void {
    const cfg = this.cfg;
    if (!this.processMessages) return;
    if (message.retain && cfg.noRetain) return;
    const printed = printMessage(
      {
        format: cfg.format,
        verbose: cfg.verbose,
        eol: cfg.eol,
        pretty: cfg.pretty,
        randomFilter: cfg.randomFilter,
      },
      message,
    );
    if (printed.stdout.length > 0) this.io.out(printed.stdout);
    if (printed.stderr !== null) this.errPrintf(printed.stderr);
    this.processMessages = false;
    this.finished = true;
    this.client?.destroy();
    this.resolveStatus(0);
  }
}
