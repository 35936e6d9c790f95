/**
 * mosquitto_ctrl's interactive shell (ctrl_shell*.c of Mosquitto 2.1.2), started by
 * `mosquitto_ctrl` without a module on a terminal, or by `mosquitto_ctrl [options] shell`
 * (ours, also without a terminal: piped commands).
 *
 * Modes as in 2.1: before connecting (`auth`, `connect`, `help`, `exit`), connected
 * (`dynsec`, `broker`, `disconnect`, `help`, `exit`), and the module modes (their commands,
 * `return`, `disconnect`, `help`, `exit`). Options given on the command line (host, port,
 * username, password, client id, TLS files) make the shell connect at once; if that fails
 * it ends. Each command is one request on the module's `$CONTROL/.../v1` topic (MQTT 5,
 * QoS 1); the shell waits 2 s for the PUBACK and 2 s for the response, as 2.1 does.
 *
 * Where 2.1.2 misbehaves we do not follow it: its waits for PUBACK and response race with
 * the network thread (a spurious "Timed out with no response." after a command that
 * worked), a refused publish or subscription is remembered for the rest of the connection,
 * and dynsec's completion lists are only fetched on the first entry to the mode.
 */
import { MqttClient } from '../client/client.ts';
import { ConnectionRefusedError, ReasonCodeError, reasonString } from '../client/errors.ts';
import type { ReceivedMessage } from '../client/message.ts';
import { initConfig, PORT_UNDEFINED, type ToolConfig } from './args/config.ts';
import { atoi } from './args/c-numbers.ts';
import { cjsonPrintUnformatted, type CJsonValue } from '../common/cjson.ts';
import { buildClientOptions } from './client-options.ts';
import { brokerModule } from './ctrl-shell-broker.ts';
import { dynsecModule } from './ctrl-shell-dynsec.ts';
import { pipedInput, terminalInput, type ShellInput } from './ctrl-shell-input.ts';
import {
  completionTree,
  lower,
  member,
  plain,
  Words,
  type CompletionCommand,
  type ShellHost,
  type ShellModule,
} from './ctrl-shell-module.ts';
import { DARK_PALETTE, PLAIN_PALETTE, promptText, ShellOutput } from './ctrl-shell-output.ts';
import type { ToolIo } from './io.ts';

/** The Mosquitto version whose shell this is (its banner). */
export const SHELL_VERSION = '2.1.2';

/** How long the shell waits for a CONNACK, SUBACK, PUBACK or response. */
export const SHELL_WAIT_MS = 2000;

export interface ShellTerminal {
  readonly input: NodeJS.ReadStream;
  readonly output: NodeJS.WriteStream;
  /** Line editing, completion and colours: stdin (and stdout) are a terminal. */
  readonly interactive: boolean;
}

const TIMED_OUT = 'Timed out with no response.\n';

const PRE_CONNECT = completionTree(plain('auth', 'connect', 'exit'));
const POST_CONNECT = completionTree(plain('broker', 'disconnect', 'dynsec', 'exit'));

const EXAMPLE =
  'Example workflow:\n\n' +
  '> auth\nusername: admin\npassword:\n> connect mqtt://localhost\n' +
  'mqtt://localhost:1883> dynsec\nmqtt://localhost:1883|dynsec> createGroup newgroup\nOK\n\n';

/** isspace() trimming at the end, as ctrl_shell_rtrim. */
const rtrim = (line: string): string => line.replace(/[ \t\n\v\f\r]+$/, '');

function later<T>(ms: number): { promise: Promise<T | 'timeout'>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      resolve('timeout');
    }, ms);
  });
  return {
    promise,
    cancel: () => {
      clearTimeout(timer);
    },
  };
}

/** `promise`, or 'timeout' after SHELL_WAIT_MS. */
async function waitFor<T>(promise: Promise<T>): Promise<T | 'timeout'> {
  const timer = later<T>(SHELL_WAIT_MS);
  try {
    return await Promise.race([promise, timer.promise]);
  } finally {
    timer.cancel();
  }
}

class Shell implements ShellHost {
  readonly output: ShellOutput;
  private input: ShellInput | null = null;
  private running = true;
  private mode: 'pre' | 'post' | ShellModule = 'pre';
  private client: MqttClient | null = null;
  private readonly subscribed = new Set<string>();
  private responseArrived: (() => void) | null = null;

  private scheme = 'mqtt';
  private webSocket = false;
  private hostname: string | null = null;
  private port = PORT_UNDEFINED;
  private username: string | null = null;
  private password: string | null = null;

  constructor(
    private readonly base: ToolConfig | null,
    private readonly terminal: ShellTerminal,
    private readonly io: ToolIo,
  ) {
    const colours =
      terminal.interactive && terminal.output.isTTY && io.env.NO_COLOR === undefined
        ? DARK_PALETTE
        : PLAIN_PALETTE;
    this.output = new ShellOutput(colours, (text) => {
      io.out(text);
    });
    if (base !== null) {
      this.hostname = base.host;
      this.port = base.port;
      this.username = base.username;
      this.password = base.password;
    }
  }

  async run(): Promise<number> {
    const write = (text: string): void => {
      this.io.out(text);
    };
    this.input = this.terminal.interactive
      ? terminalInput(this.terminal.input, this.terminal.output, (line) => this.complete(line))
      : pipedInput(this.terminal.input, write);
    try {
      this.output.print(`mosquitto_ctrl shell v${SHELL_VERSION}\n`);
      if (this.hostname !== null && !(await this.connect())) return 0;
      while (this.running) {
        const line = await this.input.line(this.prompt());
        if (line === null) this.running = false;
        else await this.handle(line);
      }
      this.output.print('\n');
      return 0;
    } finally {
      this.input.close();
      await this.client?.end().catch(() => undefined);
    }
  }

  // ------------------------------------------------------------------ prompt, completion

  private prompt(): string {
    const c = this.output.colours;
    if (this.mode === 'pre') return promptText(`${c.input}>${c.reset} `);
    const url = `${c.url}${this.scheme}://${this.hostname ?? ''}:${this.port}`;
    if (this.mode === 'post') return promptText(`${url}${c.input}>${c.reset} `);
    return promptText(`${url}${c.reset}|${c.module}${this.mode.name}${c.input}>${c.reset} `);
  }

  private commands(): readonly CompletionCommand[] {
    if (this.mode === 'pre') return PRE_CONNECT;
    if (this.mode === 'post') return POST_CONNECT;
    return this.mode.commands;
  }

  /** The first word completes to a command, later ones to that command's arguments. */
  private complete(line: string): [string[], string] {
    const words = line.split(' ').filter((word) => word !== '');
    const typing = line.endsWith(' ') || line === '' ? '' : (words.pop() ?? '');
    const prefix = lower(typing);
    let candidates: readonly string[];
    if (words.length === 0) {
      candidates = this.commands().map((command) => command.name);
    } else {
      const command = this.commands().find((entry) => lower(entry.name) === lower(words[0] ?? ''));
      candidates = command?.args[words.length - 1]?.() ?? [];
    }
    const hits = candidates.filter((name) => lower(name).startsWith(prefix));
    return [[...hits].sort(), typing];
  }

  // ------------------------------------------------------------------ lines

  private async handle(raw: string): Promise<void> {
    const line = rtrim(raw);
    const words = new Words(line);
    const command = words.next();
    if (command === null) return;
    if (this.mode === 'pre') await this.preConnect(command, words);
    else if (this.mode === 'post') await this.postConnect(command, words);
    else if (!(await this.mode.run(command, words)) && !(await this.final(command))) {
      this.unknown(command);
    }
  }

  private unknown(command: string): void {
    this.output.print(`Unknown command '${command}'\n`);
  }

  private async preConnect(command: string, words: Words): Promise<void> {
    switch (lower(command)) {
      case 'auth':
        await this.auth(words);
        return;
      case 'connect':
        await this.connectCommand(words);
        return;
      case 'help':
        this.preConnectHelp(words.next());
        return;
      case 'exit':
        this.running = false;
        return;
      default:
        this.unknown(command);
    }
  }

  private async postConnect(command: string, words: Words): Promise<void> {
    const key = lower(command);
    if (key === 'broker' || key === 'dynsec') {
      await this.enter(key === 'broker' ? brokerModule(this) : dynsecModule(this));
    } else if (key === 'help') {
      this.postConnectHelp(words.next());
    } else if (!(await this.final(command))) {
      this.unknown(command);
    }
  }

  /** ctrl_shell_callback_final: exit, disconnect and return, in every connected mode. */
  private async final(command: string): Promise<boolean> {
    switch (lower(command)) {
      case 'exit':
        this.running = false;
        return true;
      case 'disconnect':
        if (this.client === null) return false;
        await this.disconnect();
        return true;
      case 'return':
        this.mode = 'post';
        return true;
      default:
        return false;
    }
  }

  private async auth(words: Words): Promise<void> {
    const c = this.output.colours;
    this.username =
      words.next() ??
      (await this.input?.line(promptText(`${c.input}username:${c.reset} `))) ??
      null;
    const password = await this.readPassword();
    if (password === null) {
      this.output.print('No password.\n');
      return;
    }
    this.password = password;
  }

  async readPassword(): Promise<string | null> {
    const c = this.output.colours;
    this.output.print(`${c.input}password:${c.reset}`);
    const line = (await this.input?.secret()) ?? null;
    if (line === null) return null;
    this.output.print('\n');
    return rtrim(line);
  }

  // ------------------------------------------------------------------ help

  private preConnectHelp(command: string | null): void {
    const out = this.output;
    const c = out.colours;
    const findHelp = `Find help on a command using '${c.input}help <command>${c.reset}'\n`;
    if (command === null) {
      out.print(
        'This is the mosquitto_ctrl interactive shell, for controlling aspects of a mosquitto broker.\n' +
          findHelp +
          'Press tab multiple times to find currently available commands.\n\n' +
          EXAMPLE,
      );
      return;
    }
    switch (lower(command)) {
      case 'auth':
        out.helpCommand('auth [username]');
        out.print('\nSet a username and password prior to connecting to a broker.\n');
        return;
      case 'connect':
        out.helpCommand('connect');
        for (const scheme of ['mqtt', 'mqtts', 'ws', 'wss']) {
          out.helpCommand(`connect ${scheme}://hostname[:port]`);
        }
        out.print(
          '\nConnect to a broker using the provided transport and port.\n' +
            'If no URL is provided, connects to mqtt://localhost:1883\n',
        );
        return;
      case 'exit':
        out.helpCommand('exit');
        out.print('\nQuit the program\n');
        return;
      case 'help':
        out.helpCommand('help <command>');
        out.print(`\n${findHelp}Press tab multiple times to find currently available commands.\n`);
        return;
      default:
        this.unknown(command);
    }
  }

  private postConnectHelp(command: string | null): void {
    const out = this.output;
    if (command === null) {
      this.preConnectHelp(null);
    } else if (lower(command) === 'dynsec') {
      out.helpCommand('dynsec');
      out.print('\nStart the dynamic-security control mode.\n');
    } else if (lower(command) === 'broker') {
      out.helpCommand('broker');
      out.print('\nStart the broker control mode.\n');
    } else {
      this.helpFinal(command, null);
    }
  }

  helpFinal(command: string, module: string | null): void {
    const out = this.output;
    const key = lower(command);
    if (key === 'disconnect') {
      out.helpCommand('disconnect');
      out.print('\nDisconnect from the broker\n');
    } else if (key === 'exit') {
      out.helpCommand('exit');
      out.print('\nQuit the program\n');
    } else if (key === 'help') {
      // Unlike the other modes' help, 2.1 prints this one without colours.
      out.helpCommand('help <command>');
      out.print(
        "\nFind help on a command using 'help <command>'\n" +
          'Press tab multiple times to find currently available commands.\n',
      );
    } else if (module !== null && key === 'return') {
      out.helpCommand('return');
      out.print(`\nLeave ${module} mode.\n`);
    } else {
      this.unknown(command);
    }
  }

  // ------------------------------------------------------------------ connection

  private async connectCommand(words: Words): Promise<void> {
    let url = words.next();
    if (url === null) {
      this.hostname ??= 'localhost';
      if (this.port === PORT_UNDEFINED) this.port = 1883;
      await this.connect();
      return;
    }
    const schemes = [
      ['mqtt://', 'mqtt', 1883, false],
      ['mqtts://', 'mqtts', 8883, false],
      ['ws://', 'ws', 1883, true],
      ['wss://', 'wss', 8883, true],
    ] as const;
    for (const [prefix, scheme, port, webSocket] of schemes) {
      if (lower(url).startsWith(prefix)) {
        url = url.slice(prefix.length);
        [this.scheme, this.port, this.webSocket] = [scheme, port, webSocket];
        break;
      }
    }
    // strtok_r(url, ":"): empty pieces are skipped.
    const [host, portWord] = url.split(':').filter((piece) => piece !== '');
    if (host === undefined) {
      this.output.print('connect mqtt[s]://<hostname>:port\n');
      return;
    }
    this.hostname = host;
    if (portWord !== undefined) this.port = atoi(portWord);
    await this.connect();
  }

  /** ctrl_shell__connect: true once connected (the mode is then "connected"). */
  private async connect(): Promise<boolean> {
    if (this.port === PORT_UNDEFINED) this.port = 1883;
    this.client?.destroy();
    this.client = null;
    this.subscribed.clear();

    const cfg = initConfig('rr');
    cfg.protocolVersion = 5;
    cfg.keepalive = 60;
    cfg.host = this.hostname;
    cfg.port = this.port;
    cfg.id = this.base?.id ?? null;
    if (this.username !== null && this.password !== null) {
      cfg.username = this.username;
      cfg.password = this.password;
    }
    cfg.cafile = this.base?.cafile ?? null;
    cfg.capath = this.base?.capath ?? null;
    cfg.certfile = this.base?.certfile ?? null;
    cfg.keyfile = this.base?.keyfile ?? null;
    cfg.tlsUseOsCerts = this.scheme === 'mqtts' || this.scheme === 'wss';
    const built = buildClientOptions(cfg, this.io.pid);
    if (!built.ok) {
      this.output.error(
        built.error.includes('TLS options')
          ? 'Error setting TLS options: File not found.'
          : built.error.trim(),
      );
      return false;
    }
    const tlsWanted =
      cfg.tlsUseOsCerts ||
      [cfg.cafile, cfg.capath, cfg.certfile, cfg.keyfile].some((file) => file !== null);
    const { tls, ...plainOptions } = built.options;
    try {
      this.client = await MqttClient.connect({
        ...plainOptions,
        ...(tlsWanted && tls !== undefined ? { tls } : {}),
        ...(this.webSocket ? { webSocket: true } : {}),
        connectTimeoutMs: SHELL_WAIT_MS,
      });
    } catch (error) {
      if (error instanceof ConnectionRefusedError) {
        this.output.error(`Unable to connect: ${reasonString(error.reasonCode)}`);
      } else {
        // 2.1 waits for a CONNACK that never comes, whatever went wrong.
        this.output.print(TIMED_OUT);
        this.output.error('Unable to connect: Unknown reason');
      }
      return false;
    }
    this.mode = 'post';
    return true;
  }

  private async disconnect(): Promise<void> {
    const client = this.client;
    this.client = null;
    this.subscribed.clear();
    this.mode = 'pre';
    await client?.end().catch(() => undefined);
  }

  // ------------------------------------------------------------------ modules

  private async enter(module: ShellModule): Promise<void> {
    this.mode = module;
    const client = this.client;
    if (client === null) return;
    if (this.subscribed.has(module.responseTopic)) {
      await module.onSubscribe();
      return;
    }
    this.subscribed.add(module.responseTopic);
    const subscribing = client.subscribe(module.responseTopic, { qos: 1 });
    const outcome = await waitFor(
      subscribing.then(
        (s) => s,
        () => null,
      ),
    );
    if (outcome === null || outcome === 'timeout') {
      this.output.print(TIMED_OUT);
    } else {
      void this.drain(outcome);
      if ((outcome.reasonCodes[0] ?? 0x80) >= 128) {
        this.output.print('Subscribe failed, check you have permission to access this module.\n');
        return;
      }
    }
    await module.onSubscribe();
  }

  /** The responses that arrive on a subscription, for as long as it lasts. */
  private async drain(messages: AsyncIterable<ReceivedMessage>): Promise<void> {
    try {
      for await (const message of messages) this.onMessage(message);
    } catch {
      // The connection ended.
    }
  }

  /** ctrl_shell__on_message. */
  private onMessage(message: ReceivedMessage): void {
    const payload = message.payload.toString('utf8');
    let tree: unknown;
    try {
      tree = JSON.parse(payload);
    } catch {
      tree = undefined;
    }
    if (member(tree, 'error') === 'endpoint not available') {
      this.output.error('$CONTROL endpoint for this module not available.');
    } else {
      const responses = member(tree, 'responses');
      const first: unknown = Array.isArray(responses) ? responses[0] : undefined;
      const command = member(first, 'command');
      const error = member(first, 'error');
      const data = member(first, 'data');
      if (error !== undefined) {
        this.output.error(typeof error === 'string' ? error : '(null)');
      } else if (data !== undefined && typeof this.mode === 'object') {
        this.mode.onResponse(
          typeof command === 'string' ? command : '',
          (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>,
          payload,
        );
      } else if (command !== undefined) {
        this.output.print('OK\n');
      } else {
        this.output.print('Invalid response from broker.\n');
      }
    }
    const arrived = this.responseArrived;
    this.responseArrived = null;
    arrived?.();
  }

  async publish(command: Record<string, CJsonValue>): Promise<number> {
    const client = this.client;
    if (client === null || typeof this.mode !== 'object') return 1;
    const response = new Promise<void>((resolve) => {
      this.responseArrived = resolve;
    });
    const payload = cjsonPrintUnformatted({ commands: [command] });
    const acknowledged = client.publish(this.mode.requestTopic, payload, { qos: 1 }).then(
      () => 'ok' as const,
      (error: unknown) =>
        error instanceof ReasonCodeError && error.reasonCode >= 128
          ? ('refused' as const)
          : ('lost' as const),
    );
    const ack = await waitFor(acknowledged);
    if (ack === 'refused') {
      this.output.print('Publish failed, check you have permission to access this module.\n');
      return 1;
    }
    if (ack !== 'ok' || (await waitFor(response)) === 'timeout') {
      this.responseArrived = null;
      this.output.print(TIMED_OUT);
      return 1;
    }
    return 0;
  }
}

/** Runs the shell; `base` holds the command line's options (null: none were given). */
export function runShell(
  base: ToolConfig | null,
  terminal: ShellTerminal,
  io: ToolIo,
): Promise<number> {
  return new Shell(base, terminal, io).run();
}
