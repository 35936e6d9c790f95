/**
 * Mosquitto 2.1's sparkplug-aware plugin (`plugin .../mosquitto_sparkplug_aware.so`), on
 * the plugin API: Sparkplug 3.0 "awareness". Every NBIRTH and DBIRTH message is also
 * published, retained, on `$sparkplug/certificates/<its topic>`, so a host application
 * that comes later finds the latest birth certificates.
 */
import { topicMatches } from '../../../protocol/topic.ts';
import type { PluginDefinition } from '../api.ts';
import { definePlugin } from '../api.ts';

const NODE_BIRTH = 'spBv1.0/+/NBIRTH/+';
const DEVICE_BIRTH = 'spBv1.0/+/DBIRTH/+/+';

export const sparkplugAwarePlugin: PluginDefinition = definePlugin({
  name: 'sparkplug-aware',
  init: (context) => ({
    messageIn: ({ message }) => {
      if (topicMatches(NODE_BIRTH, message.topic) || topicMatches(DEVICE_BIRTH, message.topic)) {
        context.publish(
          `$sparkplug/certificates/${message.topic}`,
          message.payload,
          message.qos,
          true,
        );
      }
      return undefined;
    },
  }),
});
