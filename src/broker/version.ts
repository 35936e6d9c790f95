/** The Mosquitto version this broker reproduces (the form tools parse). */
export const BROKER_VERSION = '2.0.22';

/** This implementation's own version (package.json's; a test keeps them equal). */
export const IMPLEMENTATION_VERSION = '0.1.0';

/**
 * The version as we announce it: Mosquitto's number first, so that anything parsing
 * `mosquitto version X.Y.Z` still finds it, then which broker is answering.
 */
export const BROKER_VERSION_TEXT = `${BROKER_VERSION} (mosquitto-ts ${IMPLEMENTATION_VERSION})`;
