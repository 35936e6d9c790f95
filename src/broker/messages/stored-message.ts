/**
 * StoredMessage (Mosquitto's base_msg): one per published message, shared by every
 * recipient. It also caches the encoded PUBLISH forms, so fan-out encodes once per
 * distinct outgoing form (protocol family x QoS x retain flag x properties variant)
 * and each recipient only gets its packet id patched in while copying.
 */
import { Buffer } from 'node:buffer';
import type { QoS } from '../../protocol/constants.ts';
import { ProtocolVersion } from '../../protocol/constants.ts';
import type { Properties } from '../../protocol/packets.ts';
import { EMPTY_PROPERTIES } from '../../protocol/packets.ts';
import type { PublishForm } from '../../protocol/encoder.ts';
import { encodePublishForm } from '../../protocol/encoder.ts';

type MutableProperties = { -readonly [K in keyof Properties]: Properties[K] };

/** No expiry. */
export const NEVER_EXPIRES = 0;

/**
 * The encoded forms of one message, created when the first recipient needs one (a
 * message forwarded as received needs none).
 */
class FormCache {
  /** The first form encoded and its index: most messages need only one. */
  first: PublishForm | null = null;
  firstIndex = -1;
  /** Further forms without per-recipient properties, by index (v5 x 6 + QoS x 2 + retain). */
  others: (PublishForm | undefined)[] | null = null;
  /** Forms with a subscription identifier or an expiry, for one remaining-expiry value. */
  variants: Map<number, PublishForm> | null = null;
  variantExpiry = -1;
}

/** StoredMessage.#rawFlags: the raw frame is in the MQTT 5 layout (empty property block). */
const RAW_V5 = 1;
/** StoredMessage.#rawFlags: payload (and raw frame) are views of a received chunk. */
const BORROWED = 2;

export class StoredMessage {
  readonly topic: string;
  /**
   * For a message decoded from a PUBLISH, a view of the received chunk until keep()
   * gives it bytes of its own (replaced then, same contents).
   */
  payload: Buffer;
  readonly qos: QoS;
  /** The RETAIN flag as published. */
  readonly retain: boolean;
  /** Properties passed on to subscribers (PFI, content type, response topic, ...). */
  readonly properties: Properties;
  /** Clock.now() milliseconds after which the message is dropped; 0 never. */
  readonly expiresAt: number;
  /** The publishing client ("" for the broker itself, as Mosquitto). */
  readonly sourceClientId: string;
  readonly sourceUsername: string | null;
  #forms: FormCache | null = null;
  /**
   * The received PUBLISH frame, when it can be forwarded verbatim (see rawFormFits):
   * `rawSource[rawStart..rawEnd)`, a part of the received chunk until keep() copies it.
   * Null otherwise (topic alias, mount point, properties, messages of the broker).
   */
  rawSource: Buffer | null = null;
  rawStart = 0;
  rawEnd = 0;
  /** Offset of the packet identifier inside the raw frame; -1 for QoS 0. */
  rawPacketIdOffset = -1;
  /** RAW_V5 | BORROWED (one field rather than two: every message carries it). */
  #rawFlags = 0;

  constructor(
    topic: string,
    payload: Buffer,
    qos: QoS,
    retain: boolean,
    properties: Properties,
    expiresAt: number,
    sourceClientId: string,
    sourceUsername: string | null,
  ) {
    this.topic = topic;
    this.payload = payload;
    this.qos = qos;
    this.retain = retain;
    this.properties = properties;
    this.expiresAt = expiresAt;
    this.sourceClientId = sourceClientId;
    this.sourceUsername = sourceUsername;
  }

  /**
   * Marks the payload as a view of a received chunk and, when `frameEnd` > 0, offers the
   * frame it came in as a form: `frameSource[frameStart..frameEnd)` is a PUBLISH whose
   * bytes after the first are those of this message's form for a recipient of the same
   * protocol family (MQTT 5 only with no properties) and packet-identifier presence.
   */
  borrowFrame(
    frameSource: Buffer,
    frameStart: number,
    frameEnd: number,
    packetIdOffset: number,
    v5: boolean,
  ): void {
    if (frameEnd === 0) {
      this.#rawFlags = BORROWED;
      return;
    }
    this.#rawFlags = v5 ? BORROWED | RAW_V5 : BORROWED;
    this.rawSource = frameSource;
    this.rawStart = frameStart;
    this.rawEnd = frameEnd;
    this.rawPacketIdOffset = packetIdOffset;
  }

  /**
   * Whether the raw frame (with the first byte and packet identifier patched) is the form
   * for a recipient speaking `version` at `qos` with `subscriptionId`.
   */
  rawFormFits(version: ProtocolVersion, qos: QoS, subscriptionId: number): boolean {
    if (this.rawSource === null || (qos === 0) !== this.rawPacketIdOffset < 0) return false;
    return (this.#rawFlags & RAW_V5) !== 0
      ? version === ProtocolVersion.V5 && subscriptionId === 0
      : version !== ProtocolVersion.V5;
  }

  /**
   * The message must outlive this event-loop turn (queued, in flight, held for PUBREL):
   * copy what it borrowed from the received chunk, once, so that it does not keep the
   * whole chunk (up to 64 KiB) alive. The raw frame and the payload share one copy.
   */
  keep(): void {
    if ((this.#rawFlags & BORROWED) === 0) return;
    this.#rawFlags &= ~BORROWED;
    const source = this.rawSource;
    if (source === null) {
      this.payload = Buffer.from(this.payload);
      return;
    }
    const frame = Buffer.allocUnsafe(this.rawEnd - this.rawStart);
    source.copy(frame, 0, this.rawStart, this.rawEnd);
    this.rawSource = frame;
    this.rawStart = 0;
    this.rawEnd = frame.length;
    this.payload = frame.subarray(frame.length - this.payload.length);
  }

  isExpired(now: number): boolean {
    return this.expiresAt !== NEVER_EXPIRES && now >= this.expiresAt;
  }

  /** Whole seconds left before expiry, at least 1 (for the outgoing property). */
  remainingExpirySeconds(now: number): number {
    return Math.max(1, Math.ceil((this.expiresAt - now) / 1000));
  }

  /**
   * The encoded PUBLISH (DUP 0, packet id 0) for a recipient. `subscriptionId` 0 is
   * none; `now` is used for the remaining message expiry interval of MQTT 5 forms.
   */
  form(
    version: ProtocolVersion,
    qos: QoS,
    retain: boolean,
    subscriptionId: number,
    now: number,
  ): PublishForm {
    const v5 = version === ProtocolVersion.V5;
    if (v5 && (subscriptionId !== 0 || this.expiresAt !== NEVER_EXPIRES)) {
      return this.#variantForm(qos, retain, subscriptionId, now);
    }
    const index = (v5 ? 6 : 0) + qos * 2 + (retain ? 1 : 0);
    const forms = (this.#forms ??= new FormCache());
    if (index === forms.firstIndex && forms.first !== null) return forms.first;
    let form = forms.others?.[index];
    if (form === undefined) {
      form = encodePublishForm(
        this.topic,
        this.payload,
        qos,
        retain,
        false,
        v5 ? this.properties : EMPTY_PROPERTIES,
        version === ProtocolVersion.V31 ? ProtocolVersion.V311 : version,
      );
      if (forms.first === null) {
        forms.first = form;
        forms.firstIndex = index;
      } else {
        (forms.others ??= new Array<PublishForm | undefined>(12))[index] = form;
      }
    }
    return form;
  }

  #variantForm(qos: QoS, retain: boolean, subscriptionId: number, now: number): PublishForm {
    const expiry = this.expiresAt === NEVER_EXPIRES ? 0 : this.remainingExpirySeconds(now);
    const forms = (this.#forms ??= new FormCache());
    let variants = forms.variants;
    if (variants === null || forms.variantExpiry !== expiry) {
      variants = new Map();
      forms.variants = variants;
      forms.variantExpiry = expiry;
    }
    const key = subscriptionId * 6 + qos * 2 + (retain ? 1 : 0);
    let form = variants.get(key);
    if (form === undefined) {
      // Mosquitto's order: the subscription identifier, the stored properties, then the
      // remaining message expiry interval.
      const properties: MutableProperties = {};
      if (subscriptionId !== 0) properties.subscriptionIdentifiers = [subscriptionId];
      Object.assign(properties, this.properties);
      if (expiry !== 0) properties.messageExpiryInterval = expiry;
      form = encodePublishForm(
        this.topic,
        this.payload,
        qos,
        retain,
        false,
        properties,
        ProtocolVersion.V5,
      );
      variants.set(key, form);
    }
    return form;
  }
}

/**
 * The properties of an incoming PUBLISH (or will) that travel with the message, in the
 * order received: Payload Format Indicator, Content Type, Response Topic, Correlation
 * Data and User Properties. Topic Alias, Message Expiry Interval and Subscription
 * Identifier are the broker's business and are dropped here.
 */
export function forwardedProperties(incoming: Properties): Properties {
  if (incoming === EMPTY_PROPERTIES) return EMPTY_PROPERTIES;
  let out: MutableProperties | null = null;
  for (const key of Object.keys(incoming) as (keyof Properties)[]) {
    switch (key) {
      case 'payloadFormatIndicator':
        if (incoming.payloadFormatIndicator !== undefined)
          (out ??= {}).payloadFormatIndicator = incoming.payloadFormatIndicator;
        break;
      case 'contentType':
        if (incoming.contentType !== undefined) (out ??= {}).contentType = incoming.contentType;
        break;
      case 'responseTopic':
        if (incoming.responseTopic !== undefined)
          (out ??= {}).responseTopic = incoming.responseTopic;
        break;
      case 'correlationData':
        if (incoming.correlationData !== undefined)
          (out ??= {}).correlationData = incoming.correlationData;
        break;
      case 'userProperties':
        if (incoming.userProperties !== undefined)
          (out ??= {}).userProperties = incoming.userProperties;
        break;
      default:
        break;
    }
  }
  return out ?? EMPTY_PROPERTIES;
}
