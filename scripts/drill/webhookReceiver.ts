/**
 * A local webhook endpoint for drills: records every delivery (arrival time,
 * event type, the alert, whether the signature checks out) and answers 204.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhookSignature } from '../../server/alerts/webhookSignature.js';

export interface WebhookDelivery {
  /** Date.now() on arrival. */
  receivedAt: number;
  type: string;
  eventId: string | null;
  signatureOk: boolean;
  alert: { id?: string; rule?: string; state?: string; worker?: number | null; room?: string | null; firedAt?: string; resolvedAt?: string | null } | null;
}

export class WebhookReceiver {
  readonly deliveries: WebhookDelivery[] = [];
  private constructor(
    private readonly server: http.Server,
    readonly secret: string,
  ) {}

  static async start(secret: string): Promise<WebhookReceiver> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
        } catch {
          // recorded as an unknown event
        }
        const header = req.headers['x-floodlight-signature'];
        const eventId = req.headers['x-floodlight-event-id'];
        receiver.deliveries.push({
          receivedAt: Date.now(),
          type: typeof body['type'] === 'string' ? body['type'] : 'unknown',
          eventId: typeof eventId === 'string' ? eventId : null,
          signatureOk: verifyWebhookSignature(secret, typeof header === 'string' ? header : undefined, raw),
          alert: body['alert'] && typeof body['alert'] === 'object' ? body['alert'] : null,
        });
        res.statusCode = 204;
        res.end();
      });
    });
    // Declared after the handler that uses it: requests only arrive once listening.
    const receiver = new WebhookReceiver(server, secret);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/floodlight`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}
