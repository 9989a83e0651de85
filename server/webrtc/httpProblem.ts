/**
 * WHIP and WHEP errors as RFC 9457 problem details (`application/problem+json`):
 * a status, a short title, a detail that says what to change, and the extra
 * headers some statuses need (Retry-After on 429 and 503, WWW-Authenticate on 401).
 */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'HttpProblem';
  }

  get body(): { type: string; title: string; status: number; detail: string } {
    return { type: 'about:blank', title: this.title, status: this.status, detail: this.message };
  }
}

export const problems = {
  badRequest: (detail: string) => new HttpProblem(400, 'Bad Request', detail),
  unauthorized: (detail: string) => new HttpProblem(401, 'Unauthorized', detail, { 'WWW-Authenticate': 'Bearer realm="floodlight"' }),
  forbidden: (detail: string) => new HttpProblem(403, 'Forbidden', detail),
  notFound: (detail: string) => new HttpProblem(404, 'Not Found', detail),
  conflict: (detail: string, retryAfterSeconds?: number) =>
    new HttpProblem(409, 'Conflict', detail, retryAfterSeconds === undefined ? {} : { 'Retry-After': String(retryAfterSeconds) }),
  preconditionFailed: (detail: string) => new HttpProblem(412, 'Precondition Failed', detail),
  tooLarge: (detail: string) => new HttpProblem(413, 'Content Too Large', detail),
  unsupportedType: (detail: string) => new HttpProblem(415, 'Unsupported Media Type', detail),
  unprocessable: (detail: string) => new HttpProblem(422, 'Unprocessable Content', detail),
  preconditionRequired: (detail: string) => new HttpProblem(428, 'Precondition Required', detail),
  tooManyRequests: (detail: string, retryAfterSeconds: number) =>
    new HttpProblem(429, 'Too Many Requests', detail, { 'Retry-After': String(retryAfterSeconds) }),
  unavailable: (detail: string, retryAfterSeconds = 1) => new HttpProblem(503, 'Service Unavailable', detail, { 'Retry-After': String(retryAfterSeconds) }),
};
