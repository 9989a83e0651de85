/**
 * Real Chromium (Debian's /usr/bin/chromium) driven by playwright-core, with
 * the flags these machines need: headless as root, no network chatter, fake
 * camera and microphone, and loopback ICE allowed (Chromium otherwise refuses
 * to send STUN to a 127.0.0.1 candidate).
 */
import fs from 'node:fs';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

export interface LaunchedChromium {
  browser: Browser;
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(options: { fakeVideoFile?: string; extraArgs?: string[] } = {}): Promise<LaunchedChromium> {
  if (!fs.existsSync(CHROMIUM_PATH)) throw new Error(`Chromium not found at ${CHROMIUM_PATH}; run "bash scripts/setup --test"`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Background tabs must keep decoding: tests run several pages at once.
      '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows',
      '--autoplay-policy=no-user-gesture-required',
      '--use-fake-device-for-media-stream=fps=30',
      '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection',
      ...(options.fakeVideoFile ? [`--use-file-for-fake-video-capture=${options.fakeVideoFile}`] : []),
      ...(options.extraArgs ?? []),
    ],
  });
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] });
  let closed = false;
  return {
    browser,
    context,
    async close() {
      if (closed) return;
      closed = true;
      // playwright gives every launch a fresh profile directory and removes it.
      await browser.close().catch(() => undefined);
    },
  };
}
