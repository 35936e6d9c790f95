/**
 * An MqttError that also says how the close is logged, for the few places where
 * Mosquitto's log line does not follow from the reason code alone (a will payload over
 * message_size_limit is "oversize payload", a v3 keepalive refusal is "Invalid
 * arguments provided.", ...).
 */
import { MqttError } from '../protocol/errors.ts';
import type { CloseReason } from './close-reason.ts';

export class BrokerError extends MqttError {
  readonly closeReason: CloseReason;
  /** Text for CloseReason.Other. */
  readonly detail: string;
  /** Close without a CONNACK or DISCONNECT, where Mosquitto says nothing either. */
  readonly quiet: boolean;

  constructor(
    reasonCode: number,
    message: string,
    specRef: string,
    closeReason: CloseReason,
    detail = '',
    quiet = false,
  ) {
    super(reasonCode, message, specRef);
    this.closeReason = closeReason;
    this.detail = detail;
    this.quiet = quiet;
  }
}
