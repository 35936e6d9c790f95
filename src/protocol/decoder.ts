/**
 * FrameDecoder: bytes in, packets out, for one network connection.
 *
 * Chunks are kept by reference as they arrive. A packet that lies inside one chunk is
 * decoded in place, and its payload and binary fields are views of that chunk (no copy);
 * only a packet split across chunks is joined into a new Buffer. Callers must therefore
 * not reuse or modify a Buffer after pushing it (Node's sockets hand out fresh ones).
 *
 * The fixed header is checked as soon as it is complete, before the body is buffered:
 * packet type, reserved flags, the fixed sizes of small packets, and the packet size
 * limits (so an oversized packet is refused without waiting for it). A decoder that
 * fails stays failed: every later next() throws the same MqttError.
 */
import { Buffer } from 'node:buffer';
import { PacketType, ProtocolVersion, ReasonCode } from './constants.ts';
import { MqttError } from './errors.ts';
import { decodeConnect } from './connect-decoder.ts';
import {
  decodeAck,
  decodeAuth,
  decodeConnack,
  decodeDisconnect,
  decodePublish,
  decodeSuback,
  decodeSubscribe,
  decodeUnsuback,
  decodeUnsubscribe,
  PINGREQ,
  PINGRESP,
} from './packet-decoders.ts';
import type { Packet } from './packets.ts';
import { PacketReader } from './reader.ts';

export interface FrameDecoderOptions {
  /** Protocol version for packets other than CONNECT; default 4 (3.1.1). */
  readonly protocolVersion?: ProtocolVersion;
  /** Largest whole packet (fixed header included) accepted; 0 = no limit. */
  readonly maximumPacketSize?: number;
  /**
   * Server side: the first packet must be CONNECT, and the server-side rules apply
   * (CONNECT at most 100,000 bytes; Mosquitto's handling of Subscription Identifiers
   * in an incoming PUBLISH).
   */
  readonly expectConnect?: boolean;
  /**
   * PUBLISH packets come as LazyPublishPacket, whose payload view is only made when read
   * (for a broker that forwards most frames as received, see frameSource).
   */
  readonly lazyPayloads?: boolean;
  /**
   * A broker's reading of packets only a server may send (CONNACK, SUBACK, UNSUBACK,
   * PINGRESP): a protocol error once the whole packet is in, whatever its body (and,
   * but for SUBACK/UNSUBACK, its flags), as Mosquitto's handlers refuse them before
   * reading on. The size checks of the fixed header still come first.
   */
  readonly refuseServerPackets?: boolean;
  /**
   * A server without extended authentication: an AUTH is a protocol error likewise,
   * whatever its flags and body (Mosquitto's handle__auth()).
   */
  readonly refuseAuth?: boolean;
}

/** Mosquitto closes a connection whose CONNECT announces more than this (read_handle). */
const MAX_CONNECT_REMAINING_LENGTH = 100_000;
const NO_HEADER = -1;
const NO_BYTES = Buffer.alloc(0);
/**
 * A frame at least this large that is not all here yet gets its Buffer at once, and the
 * chunks that follow are copied into it as they arrive (see #assembly).
 */
const ASSEMBLE_BYTES = 16 * 1024;
const sharedReader = new PacketReader();

export class FrameDecoder {
  /** Version used for every packet but CONNECT; the broker sets it after a CONNECT. */
  protocolVersion: ProtocolVersion;
  /** Largest whole packet accepted; 0 = no limit. May be changed at any time. */
  maximumPacketSize: number;

  private readonly serverSide: boolean;
  private readonly lazyPayloads: boolean;
  private readonly refuseServerPackets: boolean;
  private readonly refuseAuth: boolean;
  private awaitingConnect: boolean;
  private readonly chunks: Buffer[] = [];
  /** Index in `chunks` of the first chunk with unread bytes. */
  private chunkIndex = 0;
  /** Read position inside chunks[chunkIndex]. */
  private offset = 0;
  private buffered = 0;
  private failure: MqttError | null = null;
  /**
   * The Buffer of a large frame being received (null when none): its first `#assembled`
   * bytes are in. Chunks are copied into it on arrival rather than kept until the frame is
   * complete, so each chunk is garbage at once (a 1 MB frame is sixteen 64 KiB reads) and
   * the frame is still copied only once. Started when half the frame is in (Mosquitto
   * allocates a packet's whole size as soon as its fixed header is read).
   */
  #assembly: Buffer | null = null;
  #assembled = 0;
  /** The fixed header of the packet being assembled, once complete. */
  private headerByte = 0;
  private headerLength = 0;
  private remainingLength = NO_HEADER;
  /** Shared by every decoder: decoding is synchronous and the reader is reset per packet. */
  private readonly reader = sharedReader;
  /**
   * The whole frame (fixed header included) of the packet next() returned last:
   * `frameSource[frameStart..frameEnd)`. Valid until the next call to next(), and reset
   * to an empty Buffer when next() returns null, so no chunk stays referenced between
   * reads. A broker can forward a PUBLISH's bytes verbatim from here instead of
   * encoding them again.
   */
  frameSource: Buffer = NO_BYTES;
  frameStart = 0;
  frameEnd = 0;
  /**
   * Whether frameSource holds this frame alone (a frame spread over several chunks, joined
   * into a Buffer of its own) rather than being a received chunk that other frames share:
   * keeping the frame then keeps nothing else alive, so it need not be copied again.
   */
  frameOwned = false;

  constructor(options: FrameDecoderOptions = {}) {
    this.protocolVersion = options.protocolVersion ?? ProtocolVersion.V311;
    this.maximumPacketSize = options.maximumPacketSize ?? 0;
    this.serverSide = options.expectConnect ?? false;
    this.lazyPayloads = options.lazyPayloads ?? false;
    this.refuseServerPackets = options.refuseServerPackets ?? false;
    this.refuseAuth = options.refuseAuth ?? false;
    this.awaitingConnect = this.serverSide;
  }

  /** Bytes pushed and not yet returned as packets. */
  get bufferedBytes(): number {
    return this.buffered + this.#assembled;
  }

  /**
   * Adds received bytes. Never throws; the Buffer is kept, not copied (but for the part
   * that belongs to a large frame being received, see #assembly).
   */
  push(chunk: Buffer): void {
    if (chunk.length === 0 || this.failure !== null) return;
    const assembly = this.#assembly;
    if (assembly !== null && this.buffered === 0) {
      const n = Math.min(chunk.length, assembly.length - this.#assembled);
      chunk.copy(assembly, this.#assembled, 0, n);
      this.#assembled += n;
      if (n === chunk.length) return;
      chunk = chunk.subarray(n);
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /**
   * The next complete packet, or null when more bytes are needed. Throws only
   * MqttError, and after one, always the same one.
   */
  next(): Packet | null {
    if (this.failure !== null) throw this.failure;
    try {
      const packet = this.decodeNext();
      if (packet === null) {
        this.frameSource = NO_BYTES;
        this.frameOwned = false;
      }
      return packet;
    } catch (e) {
      // Every read is bounds-checked, so anything but an MqttError is a bug of ours;
      // the connection still must only ever see a protocol error.
      const failure =
        e instanceof MqttError
          ? e
          : new MqttError(
              ReasonCode.MalformedPacket,
              `undecodable packet (${e instanceof Error ? e.message : String(e)})`,
              'MQTT-1.5',
            );
      this.fail(failure);
      throw failure;
    }
  }

  private fail(failure: MqttError): void {
    this.failure = failure;
    this.chunks.length = 0;
    this.chunkIndex = 0;
    this.offset = 0;
    this.buffered = 0;
    this.reader.release();
    this.frameSource = NO_BYTES;
    this.frameOwned = false;
    this.#assembly = null;
    this.#assembled = 0;
  }

  private decodeNext(): Packet | null {
    if (this.remainingLength === NO_HEADER && !this.readHeader()) return null;
    const rl = this.remainingLength;
    const total = this.headerLength + rl;
    if (this.buffered < total || this.#assembly !== null) return this.assemble(total);

    const reader = this.reader;
    const chunk = this.chunks[this.chunkIndex] as Buffer;
    if (chunk.length - this.offset >= total) {
      // The packet lies in one chunk: decode in place.
      const frameStart = this.offset;
      const start = frameStart + this.headerLength;
      reader.reset(chunk, start, start + rl);
      this.frameSource = chunk;
      this.frameStart = frameStart;
      this.frameEnd = frameStart + total;
      this.frameOwned = false;
      this.offset += total;
      this.buffered -= total;
      if (this.offset === chunk.length) this.nextChunk();
    } else {
      // Joined with its fixed header, so that the frame is contiguous too.
      this.useJoined(this.take(total, total), total);
      return this.decodeJoined();
    }
    this.remainingLength = NO_HEADER;
    const packet = this.decodeBody(this.headerByte);
    reader.release();
    return packet;
  }

  /** decodeNext() of a frame that is not all in the current chunks: see #assembly. */
  private assemble(total: number): Packet | null {
    const assembly = this.#assembly;
    if (assembly !== null) {
      if (this.#assembled < total) return null;
      this.#assembly = null;
      this.#assembled = 0;
      this.useJoined(assembly, total);
      return this.decodeJoined();
    }
    // All that is here belongs to this frame: start assembling it once half of it is
    // here, so that a header announcing 256 MB costs nothing until the bytes come (the
    // Buffer is never more than twice what was received).
    if (total >= ASSEMBLE_BYTES && this.buffered * 2 >= total) {
      this.#assembled = this.buffered;
      this.#assembly = this.take(this.buffered, total);
    }
    return null;
  }

  /** Makes `joined` (the whole frame, fixed header included) the frame to decode. */
  private useJoined(joined: Buffer, total: number): void {
    this.reader.reset(joined, this.headerLength, total);
    this.frameSource = joined;
    this.frameStart = 0;
    this.frameEnd = total;
    // Small joins come from Node's shared 8 KiB pool: not a Buffer of their own.
    this.frameOwned = joined.buffer.byteLength === total;
  }

  private decodeJoined(): Packet {
    this.remainingLength = NO_HEADER;
    const packet = this.decodeBody(this.headerByte);
    this.reader.release();
    return packet;
  }

  private decodeBody(byte0: number): Packet {
    const reader = this.reader;
    const version = this.protocolVersion;
    const flags = byte0 & 0x0f;
    const type = byte0 >> 4;
    if (this.refused(type)) {
      throw new MqttError(
        ReasonCode.ProtocolError,
        `${type === PacketType.Auth ? 'AUTH' : 'server-only packet'} from a client`,
        type === PacketType.Auth ? 'MQTT-4.12.0-1' : 'MQTT-4.8',
      );
    }
    switch (type) {
      case PacketType.Publish:
        return decodePublish(reader, flags, version, this.serverSide, this.lazyPayloads);
      case PacketType.Puback:
      case PacketType.Pubrec:
      case PacketType.Pubrel:
      case PacketType.Pubcomp:
        return decodeAck(reader, type, version);
      case PacketType.Connect:
        return decodeConnect(reader, flags, this.serverSide);
      case PacketType.Connack:
        return decodeConnack(reader, version);
      case PacketType.Subscribe:
        return decodeSubscribe(reader, version);
      case PacketType.Suback:
        return decodeSuback(reader, version);
      case PacketType.Unsubscribe:
        return decodeUnsubscribe(reader, version);
      case PacketType.Unsuback:
        return decodeUnsuback(reader, version);
      case PacketType.Pingreq:
        return PINGREQ;
      case PacketType.Pingresp:
        return PINGRESP;
      case PacketType.Disconnect:
        return decodeDisconnect(reader, version, this.serverSide);
      case PacketType.Auth:
        return decodeAuth(reader);
      default:
        // Types 0 (and 15 before 5.0) were refused with the fixed header.
        throw reservedType(type);
    }
  }

  /** Types refused whole by refuseServerPackets / refuseAuth. */
  private refused(type: number): boolean {
    switch (type) {
      case PacketType.Connack:
      case PacketType.Suback:
      case PacketType.Unsuback:
      case PacketType.Pingresp:
        return this.refuseServerPackets;
      case PacketType.Auth:
        return this.refuseAuth;
      default:
        return false;
    }
  }

  /** Parses and checks the fixed header; false when its bytes are not all here yet. */
  private readHeader(): boolean {
    if (this.buffered === 0) return false;
    const chunk = this.chunks[this.chunkIndex] as Buffer;
    const o = this.offset;
    let byte0: number;
    let rl: number;
    let headerLength: number;
    if (chunk.length - o >= 2 && (chunk[o + 1] as number) < 0x80) {
      // Common case: a remaining length below 128 in the current chunk.
      byte0 = chunk[o] as number;
      rl = chunk[o + 1] as number;
      headerLength = 2;
      this.checkFirstByte(byte0);
    } else {
      byte0 = this.peek(0);
      this.checkFirstByte(byte0);
      rl = 0;
      headerLength = 0;
      let multiplier = 1;
      for (let i = 1; i <= 4; i++) {
        if (this.buffered <= i) return false;
        const b = this.peek(i);
        rl += (b & 0x7f) * multiplier;
        if (b < 0x80) {
          headerLength = i + 1;
          break;
        }
        multiplier *= 128;
      }
      if (headerLength === 0) {
        throw new MqttError(
          ReasonCode.MalformedPacket,
          'remaining length is longer than 4 bytes',
          'MQTT-2.1.4',
        );
      }
    }
    this.checkHeader(byte0, rl, headerLength);
    this.awaitingConnect = false;
    this.headerByte = byte0;
    this.headerLength = headerLength;
    this.remainingLength = rl;
    return true;
  }

  /** Checks that need only the first byte, so they fire before anything else arrives. */
  private checkFirstByte(byte0: number): void {
    const type = byte0 >> 4;
    if (this.awaitingConnect && type !== PacketType.Connect) {
      throw new MqttError(
        ReasonCode.ProtocolError,
        'the first packet is not CONNECT',
        'MQTT-3.1.0-1',
      );
    }
    if (type === 0 || (type === PacketType.Auth && this.protocolVersion !== ProtocolVersion.V5)) {
      throw reservedType(type);
    }
  }

  private checkHeader(byte0: number, rl: number, headerLength: number): void {
    const type = byte0 >> 4;
    const flags = byte0 & 0x0f;
    const v5 = this.protocolVersion === ProtocolVersion.V5;

    // Sizes first, as Mosquitto checks them when the remaining length is read.
    switch (type) {
      case PacketType.Connect:
        if (this.serverSide && rl > MAX_CONNECT_REMAINING_LENGTH) {
          throw new MqttError(
            ReasonCode.MalformedPacket,
            `CONNECT of ${rl} bytes (more than ${MAX_CONNECT_REMAINING_LENGTH})`,
            'MQTT-3.1',
          );
        }
        break;
      case PacketType.Connack:
      case PacketType.Puback:
      case PacketType.Pubrec:
      case PacketType.Pubrel:
      case PacketType.Pubcomp:
      case PacketType.Unsuback:
        if (!v5 && rl !== 2) throw wrongSize(type, rl, 2);
        break;
      case PacketType.Pingreq:
      case PacketType.Pingresp:
        if (rl !== 0) throw wrongSize(type, rl, 0);
        break;
      case PacketType.Disconnect:
        if (!v5 && rl !== 0) throw wrongSize(type, rl, 0);
        break;
      default:
        break;
    }
    const max = this.maximumPacketSize;
    if (max > 0 && headerLength + rl > max) {
      throw new MqttError(
        ReasonCode.PacketTooLarge,
        `packet of ${headerLength + rl} bytes exceeds the maximum packet size ${max}`,
        'MQTT-3.2.2-15',
      );
    }

    // Reserved flag bits [MQTT-2.1.3-1]. CONNECT's are checked with its protocol level
    // (MQTT 3.1 is lenient); PUBREL's too, for 3.1.
    switch (type) {
      case PacketType.Connect:
        break;
      case PacketType.Publish: {
        const qos = (flags >> 1) & 0x03;
        if (qos === 3) {
          throw new MqttError(ReasonCode.MalformedPacket, 'PUBLISH with QoS 3', 'MQTT-3.3.1-4');
        }
        if (qos === 0 && (flags & 0x08) !== 0) {
          throw new MqttError(
            ReasonCode.MalformedPacket,
            'PUBLISH with DUP and QoS 0',
            'MQTT-3.3.1-2',
          );
        }
        break;
      }
      case PacketType.Pubrel:
        if (flags !== 0x02 && this.protocolVersion !== ProtocolVersion.V31) {
          throw wrongFlags(type, flags, 'MQTT-3.6.1-1');
        }
        break;
      case PacketType.Subscribe:
        if (flags !== 0x02) throw wrongFlags(type, flags, 'MQTT-3.8.1-1');
        break;
      case PacketType.Unsubscribe:
        if (flags !== 0x02) throw wrongFlags(type, flags, 'MQTT-3.10.1-1');
        break;
      case PacketType.Connack:
      case PacketType.Pingresp:
      case PacketType.Auth:
        // Refused whole (decodeBody) before any look at the flags, when so configured.
        if (flags !== 0 && !this.refused(type)) throw wrongFlags(type, flags, 'MQTT-2.1.3-1');
        break;
      default:
        if (flags !== 0) throw wrongFlags(type, flags, 'MQTT-2.1.3-1');
        break;
    }
  }

  /** The byte `i` positions after the read position (the caller checked it exists). */
  private peek(i: number): number {
    let index = this.chunkIndex;
    let at = this.offset + i;
    for (;;) {
      const chunk = this.chunks[index] as Buffer;
      if (at < chunk.length) return chunk[at] as number;
      at -= chunk.length;
      index++;
    }
  }

  private nextChunk(): void {
    this.chunkIndex++;
    this.offset = 0;
    if (this.chunkIndex === this.chunks.length) {
      this.chunks.length = 0;
      this.chunkIndex = 0;
    } else if (this.chunkIndex >= 1024) {
      this.chunks.splice(0, this.chunkIndex);
      this.chunkIndex = 0;
    }
  }

  /**
   * Consumes `n` bytes spread over several chunks into the start of a new Buffer of
   * `size` bytes.
   */
  private take(n: number, size: number): Buffer {
    const out = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[this.chunkIndex] as Buffer;
      const step = Math.min(chunk.length - this.offset, n - filled);
      chunk.copy(out, filled, this.offset, this.offset + step);
      filled += step;
      this.offset += step;
      if (this.offset === chunk.length) this.nextChunk();
    }
    this.buffered -= n;
    return out;
  }
}

function reservedType(type: number): MqttError {
  return new MqttError(ReasonCode.ProtocolError, `reserved packet type ${type}`, 'MQTT-2.1.2');
}

function wrongSize(type: number, rl: number, expected: number): MqttError {
  return new MqttError(
    ReasonCode.MalformedPacket,
    `packet type ${type} with remaining length ${rl} (must be ${expected})`,
    'MQTT-2.1.4',
  );
}

function wrongFlags(type: number, flags: number, specRef: string): MqttError {
  return new MqttError(
    ReasonCode.MalformedPacket,
    `packet type ${type} with reserved flags 0x${flags.toString(16)}`,
    specRef,
  );
}
