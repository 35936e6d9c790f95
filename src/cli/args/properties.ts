/**
 * `-D <command> <property> <value>` (and `-D <command> user-property <key> <value>`):
 * libmosquitto's property names and types, the commands each property may travel in
 * (mosquitto_property_check_command), the tools' extra restrictions (cfg_parse_property)
 * and the final consistency check (mosquitto_property_check_all), with their messages.
 */
import { Buffer } from 'node:buffer';
import type { Properties } from '../../protocol/packets.ts';
import { atol } from './c-numbers.ts';
import type { PropertyEntry, PropertyTarget, ToolConfig } from './config.ts';

/** Wire types as libmosquitto numbers them (they show in one error message). */
const Type = { Byte: 1, Int16: 2, Int32: 3, Varint: 4, Binary: 5, String: 6, Pair: 7 } as const;
type Type = (typeof Type)[keyof typeof Type];

/** mosquitto_string_to_command's names (no SUBACK/UNSUBACK: they are not recognised). */
const Command = {
  connect: 1,
  connack: 2,
  publish: 3,
  puback: 4,
  pubrec: 5,
  pubrel: 6,
  pubcomp: 7,
  subscribe: 8,
  unsubscribe: 10,
  disconnect: 14,
  auth: 15,
  will: 100,
} as const;
type Command = (typeof Command)[keyof typeof Command];
const C = Command;

interface PropertyRow {
  readonly id: number;
  readonly field: keyof Properties;
  readonly type: Type;
  /** Commands it may appear in (mosquitto_property_check_command); null = any. */
  readonly commands: readonly Command[] | null;
}

const row = (
  id: number,
  field: keyof Properties,
  type: Type,
  commands: readonly Command[] | null,
): PropertyRow => ({ id, field, type, commands });

const PUBLISH_OR_WILL = [C.publish, C.will];
const NOT_WITH_REASON = [
  C.connack,
  C.puback,
  C.pubrec,
  C.pubrel,
  C.pubcomp,
  C.disconnect,
  C.auth,
  C.will,
];

/** By lower-case name, as mosquitto_string_to_property_info matches (case-insensitive). */
const PROPERTIES = new Map<string, PropertyRow>([
  ['payload-format-indicator', row(0x01, 'payloadFormatIndicator', Type.Byte, PUBLISH_OR_WILL)],
  ['message-expiry-interval', row(0x02, 'messageExpiryInterval', Type.Int32, PUBLISH_OR_WILL)],
  ['content-type', row(0x03, 'contentType', Type.String, PUBLISH_OR_WILL)],
  ['response-topic', row(0x08, 'responseTopic', Type.String, PUBLISH_OR_WILL)],
  ['correlation-data', row(0x09, 'correlationData', Type.Binary, PUBLISH_OR_WILL)],
  [
    'subscription-identifier',
    row(0x0b, 'subscriptionIdentifiers', Type.Varint, [C.publish, C.subscribe]),
  ],
  [
    'session-expiry-interval',
    row(0x11, 'sessionExpiryInterval', Type.Int32, [C.connect, C.connack, C.disconnect]),
  ],
  ['assigned-client-identifier', row(0x12, 'assignedClientIdentifier', Type.String, [C.connack])],
  ['server-keep-alive', row(0x13, 'serverKeepAlive', Type.Int16, [C.connack])],
  [
    'authentication-method',
    row(0x15, 'authenticationMethod', Type.String, [C.connect, C.connack, C.auth]),
  ],
  [
    'authentication-data',
    row(0x16, 'authenticationData', Type.Binary, [C.connect, C.connack, C.auth]),
  ],
  ['request-problem-information', row(0x17, 'requestProblemInformation', Type.Byte, [C.connect])],
  ['will-delay-interval', row(0x18, 'willDelayInterval', Type.Int32, [C.will])],
  ['request-response-information', row(0x19, 'requestResponseInformation', Type.Byte, [C.connect])],
  ['response-information', row(0x1a, 'responseInformation', Type.String, [C.connack])],
  ['server-reference', row(0x1c, 'serverReference', Type.String, [C.connack, C.disconnect])],
  ['reason-string', row(0x1f, 'reasonString', Type.String, NOT_WITH_REASON)],
  ['receive-maximum', row(0x21, 'receiveMaximum', Type.Int16, [C.connect, C.connack])],
  ['topic-alias-maximum', row(0x22, 'topicAliasMaximum', Type.Int16, [C.connect, C.connack])],
  ['topic-alias', row(0x23, 'topicAlias', Type.Int16, [C.publish])],
  ['maximum-qos', row(0x24, 'maximumQoS', Type.Byte, [C.connack])],
  ['retain-available', row(0x25, 'retainAvailable', Type.Byte, [C.connack])],
  ['user-property', row(0x26, 'userProperties', Type.Pair, null)],
  ['maximum-packet-size', row(0x27, 'maximumPacketSize', Type.Int32, [C.connect, C.connack])],
  [
    'wildcard-subscription-available',
    row(0x28, 'wildcardSubscriptionAvailable', Type.Byte, [C.connack]),
  ],
  [
    'subscription-identifier-available',
    row(0x29, 'subscriptionIdentifierAvailable', Type.Byte, [C.connack]),
  ],
  [
    'shared-subscription-available',
    row(0x2a, 'sharedSubscriptionAvailable', Type.Byte, [C.connack]),
  ],
]);

const BY_FIELD = new Map<keyof Properties, PropertyRow>(
  [...PROPERTIES.values()].map((r) => [r.field, r]),
);

/** The -D command word each property list answers to. */
const TARGET_OF: Partial<Record<Command, PropertyTarget>> = {
  [C.connect]: 'connect',
  [C.publish]: 'publish',
  [C.subscribe]: 'subscribe',
  [C.unsubscribe]: 'unsubscribe',
  [C.disconnect]: 'disconnect',
  [C.will]: 'will',
};

export type PropertyScan = { readonly next: number } | { readonly error: string };

/**
 * Parses the words after -D: argv[index] is the command. Returns the index of the last
 * word consumed, or the error to print (exact text). An error with empty text is
 * libmosquitto's silent failure (a recognised command no tool handles, e.g. CONNACK).
 */
export function scanProperty(
  cfg: ToolConfig,
  argv: readonly string[],
  index: number,
): PropertyScan {
  const notEnough = 'Error: --property argument given but not enough arguments specified.\n\n';
  if (index + 2 > argv.length - 1) return { error: notEnough };
  const commandName = argv[index] ?? '';
  const command = Command[commandName.toLowerCase() as keyof typeof Command] as Command | undefined;
  if (command === undefined || !Object.hasOwn(Command, commandName.toLowerCase())) {
    return { error: 'Error: Invalid command given in --property argument.\n\n' };
  }
  const propertyName = argv[index + 1] ?? '';
  const property = PROPERTIES.get(propertyName.toLowerCase());
  if (property === undefined) {
    return { error: 'Error: Invalid property name given in --property argument.\n\n' };
  }
  if (property.commands !== null && !property.commands.includes(command)) {
    return {
      error: `Error: ${propertyName} property not allowed for ${commandName} in --property argument.\n\n`,
    };
  }
  let key = '';
  let value: string;
  let next: number;
  if (property.type === Type.Pair) {
    if (index + 3 > argv.length - 1) return { error: notEnough };
    key = argv[index + 2] ?? '';
    value = argv[index + 3] ?? '';
    next = index + 3;
  } else {
    value = argv[index + 2] ?? '';
    next = index + 2;
  }
  const unsupported = `Error: ${propertyName} property not supported for ${commandName} in --property argument.\n\n`;
  if (command === C.publish) {
    if (property.id === 0x23) cfg.haveTopicAlias = true;
    if (property.id === 0x0b) return { error: unsupported };
  } else if (command === C.subscribe) {
    if (property.id !== 0x0b && property.id !== 0x26) return { error: unsupported };
  } else if (
    command === C.auth ||
    command === C.puback ||
    command === C.pubrec ||
    command === C.pubrel ||
    command === C.pubcomp
  ) {
    return { error: unsupported };
  }
  const target = TARGET_OF[command];
  if (target === undefined) return { error: '' };

  let entry: PropertyEntry;
  const outOfRange = (n: number): { error: string } => ({
    error: `Error: Property value (${n}) out of range for property ${propertyName}.\n\n`,
  });
  switch (property.type) {
    case Type.Byte:
    case Type.Int16:
    case Type.Int32:
    case Type.Varint: {
      const n = atol(value);
      const max =
        property.type === Type.Byte ? 0xff : property.type === Type.Int16 ? 0xffff : 0xffff_ffff;
      if (n < 0 || n > max) return outOfRange(n);
      if (property.type === Type.Varint && n > 268_435_455) {
        return { error: `Error adding property ${propertyName} ${property.type}\n` };
      }
      entry = { name: property.field, value: n };
      break;
    }
    case Type.Binary: {
      const bytes = Buffer.from(value, 'utf8');
      if (bytes.length > 0xffff) {
        return { error: `Error: Property value too long for property ${propertyName}.\n\n` };
      }
      entry = { name: property.field, value: bytes };
      break;
    }
    case Type.String:
      entry = { name: property.field, value };
      break;
    case Type.Pair:
      entry = { name: property.field, value: [key, value] };
      break;
  }
  cfg.properties[target].push(entry);
  return { next };
}

/** Which command a property list is checked as, and its name in messages. */
const CHECKS: readonly (readonly [PropertyTarget, Command, string])[] = [
  ['connect', C.connect, 'CONNECT'],
  ['publish', C.publish, 'PUBLISH'],
  ['subscribe', C.subscribe, 'SUBSCRIBE'],
  ['unsubscribe', C.unsubscribe, 'UNSUBSCRIBE'],
  ['disconnect', C.disconnect, 'DISCONNECT'],
  ['will', C.will, 'Will'],
];

const PROTOCOL_ERROR = 'A network protocol error occurred when communicating with the broker.';
const DUPLICATE = 'Duplicate property in property list';

/** mosquitto_property_check_all on one list: the libmosquitto error text, or null. */
export function checkPropertyList(
  entries: readonly PropertyEntry[],
  command: Command,
): string | null {
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as PropertyEntry;
    const property = BY_FIELD.get(entry.name);
    if (property === undefined) return PROTOCOL_ERROR;
    const value = entry.value;
    if (property.type === Type.Byte && typeof value === 'number') {
      // Every byte property is a 0/1 flag.
      if (value > 1) return PROTOCOL_ERROR;
    } else if (property.id === 0x27 || property.id === 0x21 || property.id === 0x23) {
      if (value === 0) return PROTOCOL_ERROR;
    } else if (property.id === 0x08 && typeof value === 'string') {
      // mosquitto_pub_topic_check: no hierarchy limit on the client side.
      if (value === '' || /[+#]/.test(value) || Buffer.byteLength(value) > 65_535) {
        return PROTOCOL_ERROR;
      }
    }
    if (property.commands !== null && !property.commands.includes(command)) return PROTOCOL_ERROR;
    if (property.id !== 0x26) {
      for (let j = i + 1; j < entries.length; j++) {
        if (entries[j]?.name === entry.name) return DUPLICATE;
      }
    }
  }
  return null;
}

/** Checks every list; the first failure as the tool prints it ("Error in CONNECT properties: ..."). */
export function checkAllProperties(cfg: ToolConfig): string | null {
  for (const [target, command, label] of CHECKS) {
    const problem = checkPropertyList(cfg.properties[target], command);
    if (problem !== null) return `Error in ${label} properties: ${problem}\n`;
  }
  return null;
}

/** The list as a Properties object for the codec (user properties and ids gathered). */
export function toProperties(entries: readonly PropertyEntry[]): Properties {
  const out: Record<string, unknown> = {};
  for (const { name, value } of entries) {
    if (name === 'userProperties') {
      const list = (out.userProperties as [string, string][] | undefined) ?? [];
      list.push([...(value as readonly [string, string])]);
      out.userProperties = list;
    } else if (name === 'subscriptionIdentifiers') {
      out.subscriptionIdentifiers = [value];
    } else {
      out[name] = value;
    }
  }
  return out;
}
