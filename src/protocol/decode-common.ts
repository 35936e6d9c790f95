/**
 * What the packet decoders share: the property decoding modes and the checks for the
 * packet identifier and for surplus bytes.
 */
import { ReasonCode } from './constants.ts';
import { MqttError } from './errors.ts';
import type { PropertyDecodeMode } from './properties.ts';
import type { PacketReader } from './reader.ts';

export const PROTOCOL_MODE: PropertyDecodeMode = {
  invalidCode: ReasonCode.ProtocolError,
  serverSide: false,
};
const SERVER_PROTOCOL_MODE: PropertyDecodeMode = {
  invalidCode: ReasonCode.ProtocolError,
  serverSide: true,
};
/** Mosquitto turns property protocol errors into malformed packets in (UN)SUBSCRIBE. */
export const SUBSCRIBE_MODE: PropertyDecodeMode = {
  invalidCode: ReasonCode.MalformedPacket,
  serverSide: true,
};

export function modeFor(serverSide: boolean): PropertyDecodeMode {
  return serverSide ? SERVER_PROTOCOL_MODE : PROTOCOL_MODE;
}

export function expectEnd(reader: PacketReader, what: string, code: number, specRef: string): void {
  if (reader.pos !== reader.end) {
    throw new MqttError(
      code,
      `${reader.end - reader.pos} surplus bytes after the ${what}`,
      specRef,
    );
  }
}

export function packetIdentifier(reader: PacketReader, zeroCode: number): number {
  const id = reader.u16('packet identifier');
  if (id === 0) throw new MqttError(zeroCode, 'packet identifier 0', 'MQTT-2.2.1-3');
  return id;
}
