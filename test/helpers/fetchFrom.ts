/**
 * fetch() from a chosen local address (127.0.0.2, 127.0.0.3… are all this
 * machine's loopback), so a test can be two clients: one flooding from
 * 127.0.0.1 and a legitimate one elsewhere. Node's fetch cannot bind a local
 * address without undici's Agent, which is not a dependency; node:http can.
 */
import http from 'node:http';

export interface FetchFromInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

export function fetchFrom(localAddress: string, url: string, init: FetchFromInit = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: init.method ?? 'GET', headers: init.headers, localAddress }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('error', reject);
      response.once('end', () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(response.headers)) {
          for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, one);
        }
        const status = response.statusCode ?? 0;
        // A Response cannot carry a body with 204/304.
        const body = status === 204 || status === 304 ? null : Buffer.concat(chunks);
        resolve(new Response(body, { status, headers }));
      });
    });
    request.once('error', reject);
    request.end(init.body);
  });
}
