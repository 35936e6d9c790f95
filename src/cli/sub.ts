/**
 * mosquitto_sub: connect, subscribe to every -t in one SUBSCRIBE (again after each
 * reconnection, as libmosquitto's loop_forever reconnects every second), print each
 * message, stop after -C messages, -W seconds, -E (SUBACK), --retained-only's first
 * live message, or a signal (sub_client.c). Output and exit statuses follow 2.0.22.
 */
import { MqttClient } from '../client/client.ts';
import { systemClock, type TimerHandle } from '../common/clock.ts';
import { ConnectionRefusedError, MosqErr, MqttClientError } from '../client/errors.ts';
import type { ReceivedMessage } from '../client/message.ts';
import { PacketType } from '../protocol/constants.ts';
import type { Packet } from '../protocol/packets.ts';
import { topicMatches } from '../protocol/topic.ts';
import type { ToolConfig } from './args/config.ts';
import { toProperties } from './args/properties.ts';
import { buildClientOptions } from './client-options.ts';
import { printMessage, type PrintSettings } from './format.ts';
import { processIo, type ToolIo } from './io.ts';
import { startTool } from './tool-start.ts';
import {
  connectionErrorLine,
  isConnectFailure,
  loopErrno,
  loopErrorLine,
  reportConnectFailure,
} from './report.ts';

/** Entry point of `mosquitto_sub`. */
export function main(argv: readonly string[]): Promise<number> {
  return runSub(argv, processIo());
}

export async function runSub(argv: readonly string[], io: ToolIo): Promise<number> {
  const started = await startTool('sub', argv, io);
  if (typeof started === 'number') return started;
  const cfg = started;
  if (cfg.noRetain && cfg.retainedOnly) {
    io.err("\nError: Combining '-R' and '--retained-only' makes no sense.\n");
    return 1;
  }
  const built = buildClientOptions(cfg, io.pid);
  if (!built.ok) {
    if (built.error !== '' && !(built.quietable && cfg.quiet)) io.err(built.error);
    return 1;
  }
  return new Subscriber(cfg, io).run(built.options);
}

/** loop_forever's fatal errors: no reconnection after these. */
const FATAL = new Set<number>([
  MosqErr.NoMem,
  MosqErr.Protocol,
  MosqErr.Inval,
  MosqErr.NotFound,
  MosqErr.Tls,
  MosqErr.PayloadSize,
  MosqErr.NotSupported,
  MosqErr.Auth,
  MosqErr.AclDenied,
  MosqErr.Unknown,
  MosqErr.Eai,
  MosqErr.Proxy,
]);

class Subscriber {
  private client: MqttClient | null = null;
  private connackReceived = false;
  private processMessages = true;
  private count = 0;
  /** A --remove-retained publish was sent (sub_client.c's last_mid != 0). */
  private removalSent = false;
  private timedOut = false;
  private connackResult = 0;
  private finished = false;
  private resolveStatus: (status: number) => void = () => undefined;
  private readonly status = new Promise<number>((resolve) => {
    this.resolveStatus = resolve;
  });
  private readonly print: PrintSettings;
  private readonly errPrintf: (text: string) => void;

  constructor(
    private readonly cfg: ToolConfig,
    private readonly io: ToolIo,
  ) {
    this.print = {
      format: cfg.format,
      verbose: cfg.verbose,
      eol: cfg.eol,
      pretty: cfg.pretty,
      randomFilter: cfg.randomFilter,
    };
    this.errPrintf = (text) => {
      if (!cfg.quiet) io.err(text);
    };
  }

  async run(options: Parameters<typeof MqttClient.connect>[0]): Promise<number> {
    const cfg = this.cfg;
    const removeSignals = this.io.onSignal(() => {
      this.interrupt();
    });
    // systemClock's timers chain past setTimeout's 24.8-day limit (-W takes up to INT_MAX s).
    let timer: TimerHandle | null = null;
    if (cfg.timeout > 0) {
      timer = systemClock.setTimer(() => {
        this.timedOut = true;
        this.interrupt();
      }, cfg.timeout * 1000);
    }
    try {
      return await this.connectAndWait(options);
    } finally {
      removeSignals();
      if (timer !== null) systemClock.cancel(timer);
    }
  }

  private async connectAndWait(options: Parameters<typeof MqttClient.connect>[0]): Promise<number> {
    const cfg = this.cfg;
    try {
      this.client = await MqttClient.connect({
        ...options,
        disconnectOnRefusal: true,
        reconnect: { delayMs: 1000, maxDelayMs: 1000, resubscribe: false },
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
            this.onConnect(client);
          },
          packet: (packet) => {
            this.onPacket(packet);
          },
          message: (message) => {
            this.onMessage(message);
          },
          disconnect: (error) => {
            if (error !== null) this.onLost(error);
          },
        },
      });
    } catch (error) {
      this.connackReceived = true;
      return this.connectFailed(error);
    }
    void this.client.closed().then((error) => {
      if (error !== null) this.end(error.mosqErrno);
    });
    return this.status;
  }

  private connectFailed(error: unknown): number {
    if (this.finished) return this.finalStatus(0);
    if (error instanceof ConnectionRefusedError) {
      this.errPrintf(connectionErrorLine(error, this.cfg.protocolVersion));
      this.connackResult = error.reasonCode;
      // The connect callback disconnected, so the loop ends without an error of its own.
      return this.finalStatus(0);
    }
    if (error instanceof MqttClientError) {
      if (isConnectFailure(error)) {
        return reportConnectFailure(error, this.cfg, this.io, this.errPrintf);
      }
      return this.finalStatus(loopErrno(error));
    }
    throw error;
  }

  /** The end of main(): "Timed out" (27), the loop error, or the CONNACK code. */
  private finalStatus(loopError: number): number {
    if (this.timedOut) {
      this.errPrintf('Timed out\n');
      return MosqErr.Timeout;
    }
    let rc = loopError;
    if (this.cfg.msgCount > 0 && rc === MosqErr.NoConn) rc = 0;
    if (rc !== 0) this.errPrintf(loopErrorLine(rc));
    return this.connackResult !== 0 ? this.connackResult : rc;
  }

  private end(loopError: number): void {
    if (this.finished) return;
    this.finished = true;
    this.resolveStatus(this.finalStatus(loopError));
  }

  /** mosquitto_disconnect_v5 from a callback: DISCONNECT, then the loop ends (status 0). */
  private disconnect(reasonCode = 0): void {
    if (this.finished) return;
    const client = this.client;
    this.finished = true;
    if (client === null) {
      this.resolveStatus(this.finalStatus(0));
      return;
    }
    const properties = toProperties(this.cfg.properties.disconnect);
    void client.end({ reasonCode, properties }).then(() => {
      this.resolveStatus(this.finalStatus(0));
    });
  }

  /** SIGINT, SIGTERM, -W: DISCONNECT with "disconnect with will" once connected, else exit(-1). */
  private interrupt(): void {
    if (!this.connackReceived) {
      process.exit(255);
    }
    this.processMessages = false;
    this.disconnect(0x04);
  }

  private onLost(error: MqttClientError): void {
    if (error instanceof ConnectionRefusedError) {
      // A refusal on reconnection: the connect callback reports it and disconnects.
      this.errPrintf(connectionErrorLine(error, this.cfg.protocolVersion));
      this.connackResult = error.reasonCode;
      this.client?.destroy();
      this.end(0);
      return;
    }
    if (FATAL.has(error.mosqErrno)) {
      this.client?.destroy();
      this.end(error.mosqErrno);
    }
  }

  private onConnect(client: MqttClient): void {
    const cfg = this.cfg;
    this.connackReceived = true;
    const subOpts = cfg.subOpts;
    client
      .subscribe(cfg.topics, {
        qos: cfg.qos as 0 | 1 | 2,
        noLocal: (subOpts & 0x04) !== 0,
        retainAsPublished: (subOpts & 0x08) !== 0,
        retainHandling: ((subOpts >> 4) & 0x03) as 0 | 1 | 2,
        properties: toProperties(cfg.properties.subscribe),
      })
      .catch(() => undefined);
    const unsubscribeProperties = toProperties(cfg.properties.unsubscribe);
    for (const topic of cfg.unsubTopics) {
      client.unsubscribe(topic, { properties: unsubscribeProperties }).catch(() => undefined);
    }
  }

  /** my_subscribe_callback, right after the SUBACK was handled. */
  private onPacket(packet: Packet): void {
    if (packet.type !== PacketType.Suback) return;
    const codes = packet.reasonCodes;
    if (this.cfg.debug && !this.cfg.quiet) {
      this.io.out(`Subscribed (mid: ${packet.packetId}): ${codes.join(', ')}\n`);
    }
    if (!codes.some((code) => code < 128)) {
      this.disconnect();
      this.errPrintf('All subscription requests were denied.\n');
    }
    if (this.cfg.exitAfterSub) this.disconnect();
  }

  private onMessage(message: ReceivedMessage): void {
    const cfg = this.cfg;
    if (!this.processMessages) return;
    if (cfg.retainedOnly && !message.retain) {
      this.processMessages = false;
      if (!this.removalSent) this.disconnect();
      return;
    }
    if (message.retain && cfg.noRetain) return;
    for (const filter of cfg.filterOuts) {
      if (topicMatches(filter, message.topic)) return;
    }
    if (cfg.removeRetained && message.retain) {
      const client = this.client;
      if (client !== null) {
        client.publish(message.topic, '', { qos: 1, retain: true }).catch(() => undefined);
        this.removalSent = true;
      }
    }
    const printed = printMessage(this.print, message);
    if (printed.stdout.length > 0) this.io.out(printed.stdout);
    if (printed.stderr !== null) this.errPrintf(printed.stderr);
    if (this.io.stdoutFailed) this.disconnect();
    if (cfg.msgCount > 0) {
      this.count++;
      if (this.count === cfg.msgCount) {
        this.processMessages = false;
        if (!this.removalSent) this.disconnect();
      }
    }
  }
}
