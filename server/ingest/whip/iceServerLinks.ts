/**
 * ICE servers a WHIP client is offered (RFC 9725 §4.6): one `Link` header per
 * server on the 201, `rel="ice-server"`, with TURN credentials as link params.
 * Configured as WHIP_ICE_SERVERS: comma-separated `url` or `url|username|credential`.
 */

export interface IceServer {
  url: string;
  username?: string;
  credential?: string;
}

const ICE_URL = /^(stuns?|turns?):[^\s<>",|]+$/;

/** Parses WHIP_ICE_SERVERS; throws naming the entry that is wrong. */
export function parseIceServers(value: string): IceServer[] {
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0)
    .map((entry) => {
      const [url = '', username, credential, ...rest] = entry.split('|');
      if (!ICE_URL.test(url) || rest.length > 0) throw new Error(`"${entry}" is not stun:/turn: URL[|username|credential]`);
      if (url.startsWith('turn') !== (username !== undefined && credential !== undefined)) {
        throw new Error(`"${entry}": TURN servers need |username|credential, STUN servers take none`);
      }
      if (/["\\]/.test(`${username ?? ''}${credential ?? ''}`)) throw new Error(`"${entry}": credentials may not contain quotes or backslashes`);
      return username === undefined ? { url } : { url, username, credential };
    });
}

/** The `Link` header values for the servers. */
export function iceServerLinks(servers: readonly IceServer[]): string[] {
  return servers.map((s) =>
    s.username === undefined
      ? `<${s.url}>; rel="ice-server"`
      : `<${s.url}>; rel="ice-server"; username="${s.username}"; credential="${s.credential}"; credential-type="password"`,
  );
}
