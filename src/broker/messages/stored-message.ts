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
/** StoredMessage.#rawFlags: payload (and raw frame) are in a received chunk, see keep(). */
const BORROWED = 2;
/** StoredMessage.#rawFlags: the raw frame is a form for some recipients (rawFormFits). */
const RAW_FORM = 4;

const NO_PAYLOAD = Buffer.alloc(0);

/**
 * Kept frames are copied into shared slabs rather than into Buffers of their own: a QoS 1
 * message in flight then costs no Buffer object (the scavenger copies every object that
 * survives until the PUBACK). Like Node's own Buffer pool, a slab stays alive while one
 * of its frames does; frames of more than a quarter slab get a slab to themselves.
 */
const SLAB_BYTES = 8 * 1024;
let currentSlab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabUsed = 0;

/** A copy of `source[start..end)`: in the current slab, or alone when it is large. */
class FrameCopy {
  buffer: Buffer = currentSlab;
  offset = 0;
}

const frameCopy = new FrameCopy();

function copyFrame(source: Buffer, start: number, end: number): FrameCopy {
  const length = end - start;
  if (length > SLAB_BYTES / 4) {
    frameCopy.buffer = Buffer.allocUnsafeSlow(length);
    frameCopy.offset = 0;
  } else {
    if (slabUsed + length > SLAB_BYTES) {
      currentSlab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      slabUsed = 0;
    }
    frameCopy.buffer = currentSlab;
    frameCopy.offset = slabUsed;
    // The next frame starts 8-byte aligned.
    slabUsed = (slabUsed + length + 7) & ~7;
  }
  source.copy(frameCopy.buffer, frameCopy.offset, start, end);
  return frameCopy;
}

export class StoredMessage {
  /** A payload to construct a message with before borrowFrame() gives it its real one. */
  static readonly NO_PAYLOAD: Buffer = NO_PAYLOAD;

  readonly topic: string;
  /**
   * The payload, or null while it is only known as bytes of rawSource (from
   * #payloadStart): a message forwarded as received never needs a Buffer of its own.
   */
  #payload: Buffer | null;
  /** payload.length, without making the payload. */
  payloadLength: number;
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
  /** The id a persistence store knows the message by (Mosquitto's db_id); 0 none yet. */
  storeId = 0;
  /** Durable holders (sessions, the retained store) while a store is told of changes. */
  storeRefs = 0;
  /** The change waiting for the next commit (persistence/write-behind.ts); 0 none. */
  storePending = 0;
  /**
   * The received PUBLISH frame `rawSource[rawStart..rawEnd)`, a part of the received chunk
   * until keep() copies it; null for messages of the broker. Whether it can be forwarded
   * as it is: see rawFormFits. For a restored message, the slab its payload is in (see
   * payloadIn; rawStart and rawEnd are then unused).
   */
  rawSource: Buffer | null = null;
  rawStart = 0;
  rawEnd = 0;
  /** Offset of the packet identifier inside the raw frame; -1 for QoS 0. */
  rawPacketIdOffset = -1;
  /** Where the payload starts in rawSource (while #payload is null). */
  #payloadStart = 0;
  /** RAW_V5 | BORROWED | RAW_FORM (one field rather than three: every message has it). */
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
    this.#payload = payload;
    this.payloadLength = payload.length;
    this.qos = qos;
    this.retain = retain;
    this.properties = properties;
    this.expiresAt = expiresAt;
    this.sourceClientId = sourceClientId;
    this.sourceUsername = sourceUsername;
  }

  get payload(): Buffer {
    let payload = this.#payload;
    if (payload === null) {
      const source = this.rawSource ?? NO_PAYLOAD;
      payload = Buffer.from(
        source.buffer,
        source.byteOffset + this.#payloadStart,
        this.payloadLength,
      );
      this.#payload = payload;
    }
    return payload;
  }

  /**
   * Makes the message refer to the PUBLISH frame it was decoded from,
   * `frameSource[frameStart..frameEnd)`, whose payload starts at `payloadStart`, instead
   * of its payload Buffer. With `isForm`, the frame's bytes after the first are those of
   * this message's form for a recipient of the same protocol family (MQTT 5 only with no
   * properties) and packet-identifier presence; `packetIdOffset` is then where the packet
   * identifier sits in the frame (-1 for QoS 0). With `owned`, `frameSource` holds this
   * frame alone (the decoder joined it from several chunks, see FrameDecoder.frameOwned):
   * the message may keep it as it is, and keep() has nothing to copy.
   */
  borrowFrame(
    frameSource: Buffer,
    frameStart: number,
    frameEnd: number,
    payloadStart: number,
    isForm: boolean,
    packetIdOffset: number,
    v5: boolean,
    owned = false,
  ): void {
    this.rawSource = frameSource;
    this.rawStart = frameStart;
    this.rawEnd = frameEnd;
    this.rawPacketIdOffset = packetIdOffset;
    this.#payloadStart = payloadStart;
    this.#payload = null;
    this.payloadLength = frameEnd - payloadStart;
    this.#rawFlags = (owned ? 0 : BORROWED) | (isForm ? RAW_FORM : 0) | (v5 ? RAW_V5 : 0);
  }

  /**
   * Whether rawSource is a received chunk that other frames share (until keep()): bytes
   * of it written by reference would keep the whole chunk alive while a socket holds them.
   */
  get rawShared(): boolean {
    return (this.#rawFlags & BORROWED) !== 0;
  }

  /**
   * Makes the payload `source[start..start + length)`, part of a buffer the message may
   * keep (a slab of restored payloads): it becomes a Buffer object only if a recipient
   * needs one, so a large restored store costs no object per payload.
   */
  payloadIn(source: Buffer, start: number, length: number): void {
    this.rawSource = source;
    this.#payloadStart = start;
    this.#payload = null;
    this.payloadLength = length;
  }

  /** The payload Buffer given to the constructor is a view of a received chunk. */
  borrowPayload(): void {
    this.#rawFlags = BORROWED;
  }

  /**
   * Whether the raw frame (with the first byte and packet identifier patched) is the form
   * for a recipient speaking `version` at `qos` with `subscriptionId`.
   */
  rawFormFits(version: ProtocolVersion, qos: QoS, subscriptionId: number): boolean {
    const flags = this.#rawFlags;
    if ((flags & RAW_FORM) === 0 || (qos === 0) !== this.rawPacketIdOffset < 0) return false;
    return (flags & RAW_V5) !== 0
      ? version === ProtocolVersion.V5 && subscriptionId === 0
      : version !== ProtocolVersion.V5;
  }

  /**
   * The message must outlive this event-loop turn (queued, in flight, held for PUBREL):
   * copy what it borrowed from the received chunk, once, so that it does not keep the
   * whole chunk (up to 64 KiB) alive. A frame that is a form is copied whole (the payload
   * is its tail); otherwise just the payload. A frame the decoder joined into a Buffer of
   * its own (a large message) was never borrowed: it is kept as it is, not copied again.
   */
  keep(): void {
    const flags = this.#rawFlags;
    if ((flags & BORROWED) === 0) return;
    this.#rawFlags = flags & ~BORROWED;
    const source = this.rawSource;
    if (source === null) {
      this.#payload = Buffer.from(this.payload);
      return;
    }
    if ((flags & RAW_FORM) === 0) {
      const payload = Buffer.allocUnsafe(this.payloadLength);
      source.copy(payload, 0, this.#payloadStart, this.#payloadStart + this.payloadLength);
      this.#payload = payload;
      this.rawSource = null;
      return;
    }
    const length = this.rawEnd - this.rawStart;
    const copy = copyFrame(source, this.rawStart, this.rawEnd);
    this.rawSource = copy.buffer;
    this.rawStart = copy.offset;
    this.rawEnd = copy.offset + length;
    this.#payloadStart = this.rawEnd - this.payloadLength;
    this.#payload = null;
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
