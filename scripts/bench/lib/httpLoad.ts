/**
 * HTTP GET load from this process over keep-alive connections (Node's http
 * agent: no package needed), for benchmarks that measure a server's request
 * rate and its time to first byte:
 *
 *   closedLoop(next, { connections, seconds })   `connections` requests always
 *       in flight, each sent as the previous one finishes: the most the server
 *       (and this generator) can do
 *   fixedRate(next, { rate, seconds, connections })   requests sent on a
 *       schedule (open loop): a request whose turn comes while every
 *       connection is busy waits in the agent's queue, and that wait counts in
 *       its time to first byte, as it would for a player
 *
 * `next()` names the path of each request (the caller's request mix). Time to
 * first byte = the request handed to the agent → the response's headers
 * parsed. Bodies are read to the end (a response counts when complete).
 */
import http from 'node:http';

export interface LoadOutcome {
  seconds: number;
  /** Completed responses with status < 400. */
  ok: number;
  /** Responses ≥ 400 and request errors, by status or error code. */
  failures: Record<string, number>;
  /** Per completed request, ms, by the caller's label. */
  ttfbMs: Map<string, number[]>;
  /** Completed requests per second (ok + failed responses). */
  rate: number;
  bytes: number;
}

export interface RequestSpec {
  path: string;
  /** Groups time-to-first-byte samples (e.g. 'part', 'segment'). */
  label: string;
}

class LoadRecorder {
  readonly startedAt = Date.now();
  ok = 0;
  bytes = 0;
  readonly failures: Record<string, number> = {};
  readonly ttfbMs = new Map<string, number[]>();
  done = 0;

  fail(kind: string): void {
    this.failures[kind] = (this.failures[kind] ?? 0) + 1;
  }

  outcome(): LoadOutcome {
    const seconds = (Date.now() - this.startedAt) / 1000;
    return { seconds, ok: this.ok, failures: this.failures, ttfbMs: this.ttfbMs, rate: this.done / seconds, bytes: this.bytes };
  }
}

function get(agent: http.Agent, base: URL, spec: RequestSpec, recorder: LoadRecorder): Promise<void> {
  const sentAt = performance.now();
  return new Promise((resolve) => {
    const request = http.get({ agent, host: base.hostname, port: base.port, path: spec.path, timeout: 10_000 }, (response) => {
      const ttfb = performance.now() - sentAt;
      response.on('data', (chunk: Buffer) => {
        recorder.bytes += chunk.length;
      });
      response.on('end', () => {
        recorder.done++;
        const status = response.statusCode ?? 0;
        if (status < 400) {
          recorder.ok++;
          const list = recorder.ttfbMs.get(spec.label) ?? [];
          list.push(ttfb);
          recorder.ttfbMs.set(spec.label, list);
        } else recorder.fail(String(status));
        resolve();
      });
      response.on('error', () => {
        recorder.fail('response-error');
        resolve();
      });
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', (error: NodeJS.ErrnoException) => {
      recorder.done++;
      recorder.fail(error.code ?? error.message);
      resolve();
    });
  });
}

function agentFor(connections: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
}

export async function closedLoop(baseUrl: string, next: () => RequestSpec, options: { connections: number; seconds: number }): Promise<LoadOutcome> {
  const base = new URL(baseUrl);
  const agent = agentFor(options.connections);
  const recorder = new LoadRecorder();
  const endAt = Date.now() + options.seconds * 1000;
  const loop = async () => {
    while (Date.now() < endAt) await get(agent, base, next(), recorder);
  };
  try {
    await Promise.all(Array.from({ length: options.connections }, loop));
    return recorder.outcome();
  } finally {
    agent.destroy();
  }
}

export async function fixedRate(
  baseUrl: string,
  next: () => RequestSpec,
  options: { rate: number; connections: number; seconds: number },
): Promise<LoadOutcome> {
  const base = new URL(baseUrl);
  const agent = agentFor(options.connections);
  const recorder = new LoadRecorder();
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  let sent = 0;
  try {
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const elapsed = (performance.now() - started) / 1000;
        if (elapsed >= options.seconds) {
          clearInterval(timer);
          resolve();
          return;
        }
        // Catch up to the schedule: however late this tick fired, the requests due by now go out.
        const due = Math.floor(elapsed * options.rate);
        for (; sent < due; sent++) {
          const request = get(agent, base, next(), recorder);
          inFlight.add(request);
          void request.then(() => inFlight.delete(request));
        }
      }, 2);
    });
    await Promise.all(inFlight);
    return recorder.outcome();
  } finally {
    agent.destroy();
  }
}
