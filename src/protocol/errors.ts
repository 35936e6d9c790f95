/**
 * The one error type of the protocol layer. Every violation the codec can see is an
 * MqttError carrying the MQTT 5 reason code to answer with (0x81 malformed packet,
 * 0x82 protocol error, 0x95 packet too large, ...) and the normative statement it
 * breaks ("MQTT-3.3.2-2"), so the broker can turn it into a CONNACK or DISCONNECT in
 * exactly one place and a log line can name the rule.
 */
export class MqttError extends Error {
  override readonly name = 'MqttError';
  readonly reasonCode: number;
  /** A spec statement ("MQTT-2.2.2-1") or a section ("MQTT-1.5.4"). */
  readonly specRef: string;

  constructor(reasonCode: number, message: string, specRef: string) {
    super(message);
    this.reasonCode = reasonCode;
    this.specRef = specRef;
  }
}

export function isMqttError(value: unknown): value is MqttError {
  return value instanceof MqttError;
}
