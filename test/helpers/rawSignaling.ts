/** A bare socket.io client for protocol-level tests (no WebRTC). */
import { io, type Socket } from 'socket.io-client';
import type { Ack } from '../../server/contracts/signaling.js';

export async function connectRaw(url: string): Promise<Socket> {
  const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

/**
 * Sends one request and resolves with the raw ack (never throws on error acks).
 * The answer is deliberately untyped: bad-input tests send off-contract requests
 * and read whatever comes back.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function rawRequest(socket: Socket, event: string, ...args: unknown[]): Promise<Ack<any>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for ${event} within 5 s`)), 5000);
    socket.emit(event, ...args, (response: Ack<never>) => {
      clearTimeout(timer);
      resolve(response);
    });
  });
}

export function errorCode(ack: Ack<unknown>): string | undefined {
  return ack.ok ? undefined : ack.error.code;
}
