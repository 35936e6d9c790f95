/** The Mosquitto version this broker reproduces (log lines, $SYS/broker/version). */
export const BROKER_VERSION = '2.0.22';
