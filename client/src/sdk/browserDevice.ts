import { Device } from 'mediasoup-client';
import { FloodlightError } from './errors.js';
import type { DeviceLoader } from './roomConnection.js';

/**
 * The browser's half of a join: a mediasoup-client Device, loaded with the
 * router's capabilities. Detecting the browser's WebRTC handler starts at once
 * (it needs no server); the loader waits for it when the join answer arrives.
 */
export function prepareBrowserDevice(): DeviceLoader<Device> {
  const handler = Device.factory();
  handler.catch(() => undefined); // awaited by the loader; a failed join must not leave it unhandled
  return async ({ routerRtpCapabilities }) => {
    try {
      const device = await handler;
      await device.load({ routerRtpCapabilities: routerRtpCapabilities });
      return device;
    } catch (error) {
      // Either the browser has no usable WebRTC, or it shares no codec with the router.
      throw new FloodlightError('UNSUPPORTED', `cannot use WebRTC here: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
}
