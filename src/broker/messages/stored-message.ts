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
  /** The first form encoded and its index: most messages need only one. */
  #firstForm: PublishForm | null = null;
  #firstFormIndex = -1;
  /** Further forms without per-recipient properties, by index (v5 x 6 + QoS x 2 + retain). */
  #forms: (PublishForm | undefined)[] | null = null;
  /** Forms with a subscription identifier or an expiry, for one remaining-expiry value. */
  #variantForms: Map<number, PublishForm> | null = null;
  #variantExpiry = -1;
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
  /** The raw frame is in the MQTT 5 layout (with an empty property block). */
  rawV5 = false;
  /** `payload` (and the raw frame) are views of a received chunk; see keep(). */
  #borrowed = false;

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
    this.#borrowed = true;
    if (frameEnd === 0) return;
    this.rawSource = frameSource;
    this.rawStart = frameStart;
    this.rawEnd = frameEnd;
    this.rawPacketIdOffset = packetIdOffset;
    this.rawV5 = v5;
  }

  /**
   * Whether the raw frame (with the first byte and packet identifier patched) is the form
   * for a recipient speaking `version` at `qos` with `subscriptionId`.
   */
  rawFormFits(version: ProtocolVersion, qos: QoS, subscriptionId: number): boolean {
    if (this.rawSource === null || (qos === 0) !== this.rawPacketIdOffset < 0) return false;
    return this.rawV5
      ? version === ProtocolVersion.V5 && subscriptionId === 0
      : version !== ProtocolVersion.V5;
  }

  /**
   * The message must outlive this event-loop turn (queued, in flight, held for PUBREL):
   * copy what it borrowed from the received chunk, once, so that it does not keep the
   * whole chunk (up to 64 KiB) alive. The raw frame and the payload share one copy.
   */
  keep(): void {
    if (!this.#borrowed) return;
    this.#borrowed = false;
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
    if (index === this.#firstFormIndex && this.#firstForm !== null) return this.#firstForm;
    let form = this.#forms?.[index];
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
      if (this.#firstForm === null) {
        this.#firstForm = form;
        this.#firstFormIndex = index;
      } else {
        (this.#forms ??= new Array<PublishForm | undefined>(12))[index] = form;
      }
    }
    return form;
  }

  #variantForm(qos: QoS, retain: boolean, subscriptionId: number, now: number): PublishForm {
    const expiry = this.expiresAt === NEVER_EXPIRES ? 0 : this.remainingExpirySeconds(now);
    if (this.#variantForms === null || this.#variantExpiry !== expiry) {
      this.#variantForms = new Map();
      this.#variantExpiry = expiry;
    }
    const key = subscriptionId * 6 + qos * 2 + (retain ? 1 : 0);
    let form = this.#variantForms.get(key);
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
      this.#variantForms.set(key, form);
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
