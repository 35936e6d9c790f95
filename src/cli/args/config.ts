/**
 * The tools' settings after argument scanning: client_shared.h's struct mosq_config, with
 * the same defaults (init_config). One object for all three tools; fields a tool does not
 * use keep their defaults.
 */
import type { Buffer } from 'node:buffer';
import type { Properties } from '../../protocol/packets.ts';

export type Tool = 'pub' | 'sub' | 'rr';

/** Program names, for messages ("Use 'mosquitto_pub --help' to see usage."). */
export const PROGRAM: Readonly<Record<Tool, string>> = {
  pub: 'mosquitto_pub',
  sub: 'mosquitto_sub',
  rr: 'mosquitto_rr',
};

/** How mosquitto_pub / mosquitto_rr get their payload (MSGMODE_*). */
export const MessageMode = {
  None: 0,
  Cmd: 1,
  StdinLine: 2,
  StdinFile: 3,
  File: 4,
  Null: 5,
} as const;
export type MessageMode = (typeof MessageMode)[keyof typeof MessageMode];

/** Where a -D property goes (mosquitto's CMD_* values for the commands the tools accept). */
export type PropertyTarget =
  'connect' | 'publish' | 'subscribe' | 'unsubscribe' | 'disconnect' | 'will';

/** One property as given with -D, kept in order (duplicates are detected at the end). */
export interface PropertyEntry {
  readonly name: keyof Properties;
  readonly value: number | string | Buffer | readonly [string, string];
}

/** mosq_config's port when none was given (PORT_UNDEFINED). */
export const PORT_UNDEFINED = -1;

export interface ToolConfig {
  readonly tool: Tool;
  id: string | null;
  idPrefix: string | null;
  protocolVersion: 3 | 4 | 5;
  keepalive: number;
  host: string | null;
  port: number;
  qos: number;
  retain: boolean;
  pubMode: MessageMode;
  fileInput: string | null;
  message: Buffer | null;
  topic: string | null;
  bindAddress: string | null;
  repeatCount: number;
  /** --repeat-delay in microseconds. */
  repeatDelayUs: number;
  debug: boolean;
  quiet: boolean;
  maxInflight: number;
  username: string | null;
  password: string | null;
  willTopic: string | null;
  willPayload: string | null;
  willQos: number;
  willRetain: boolean;
  cafile: string | null;
  capath: string | null;
  certfile: string | null;
  keyfile: string | null;
  ciphers: string | null;
  insecure: boolean;
  tlsAlpn: string | null;
  tlsVersion: string | null;
  tlsEngine: string | null;
  tlsEngineKpassSha1: string | null;
  keyform: string | null;
  tlsUseOsCerts: boolean;
  psk: string | null;
  pskIdentity: string | null;
  cleanSession: boolean;
  topics: string[];
  exitAfterSub: boolean;
  noRetain: boolean;
  retainedOnly: boolean;
  removeRetained: boolean;
  filterOuts: string[];
  unsubTopics: string[];
  verbose: boolean;
  eol: boolean;
  msgCount: number;
  format: string | null;
  pretty: boolean;
  timeout: number;
  /** Subscription options byte: retain handling, RAP (MQTT_SUB_OPT_*). */
  subOpts: number;
  /** -1 until set (the user cannot set -1: it means infinity, 4294967295). */
  sessionExpiryInterval: number;
  /** Per ten thousand (--random-filter 50 = 5000). */
  randomFilter: number;
  socks5Host: string | null;
  socks5Port: number;
  socks5Username: string | null;
  socks5Password: string | null;
  readonly properties: Record<PropertyTarget, PropertyEntry[]>;
  haveTopicAlias: boolean;
  responseTopic: string | null;
  tcpNodelay: boolean;
}

export function initConfig(tool: Tool): ToolConfig {
  return {
    tool,
    id: null,
    idPrefix: null,
    protocolVersion: tool === 'rr' ? 5 : 4,
    keepalive: 60,
    host: null,
    port: PORT_UNDEFINED,
    qos: 0,
    retain: false,
    pubMode: MessageMode.None,
    fileInput: null,
    message: null,
    topic: null,
    bindAddress: null,
    repeatCount: 1,
    repeatDelayUs: 0,
    debug: false,
    quiet: false,
    maxInflight: 20,
    username: null,
    password: null,
    willTopic: null,
    willPayload: null,
    willQos: 0,
    willRetain: false,
    cafile: null,
    capath: null,
    certfile: null,
    keyfile: null,
    ciphers: null,
    insecure: false,
    tlsAlpn: null,
    tlsVersion: null,
    tlsEngine: null,
    tlsEngineKpassSha1: null,
    keyform: null,
    tlsUseOsCerts: false,
    psk: null,
    pskIdentity: null,
    cleanSession: true,
    topics: [],
    exitAfterSub: false,
    noRetain: false,
    retainedOnly: false,
    removeRetained: false,
    filterOuts: [],
    unsubTopics: [],
    verbose: false,
    eol: true,
    msgCount: tool === 'rr' ? 1 : 0,
    format: null,
    pretty: false,
    timeout: 0,
    subOpts: 0,
    sessionExpiryInterval: -1,
    randomFilter: 10_000,
    socks5Host: null,
    socks5Port: 1080,
    socks5Username: null,
    socks5Password: null,
    properties: {
      connect: [],
      publish: [],
      subscribe: [],
      unsubscribe: [],
      disconnect: [],
      will: [],
    },
    haveTopicAlias: false,
    responseTopic: null,
    tcpNodelay: false,
  };
}
