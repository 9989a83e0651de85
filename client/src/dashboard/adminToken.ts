/**
 * The operator's admin token: where the page finds it (?token=… once, then
 * this tab's sessionStorage) and how a refused one is explained.
 */

const TOKEN_KEY = 'floodlight.adminToken';

/** Why the server refused the token: its error code, and the HTTP status when known. */
export interface AuthRefusal {
  code: string;
  status?: number;
}

function readStoredToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string | null): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: the token lives as long as the page
  }
}

/** ?token= wins (and leaves the address bar and history at once); otherwise this tab's stored one. */
export function takeToken(): string | null {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl !== null) {
    url.searchParams.delete('token');
    history.replaceState(history.state, '', `${url.pathname}${url.search}${url.hash}`);
    if (fromUrl.trim()) {
      storeToken(fromUrl.trim());
      return fromUrl.trim();
    }
  }
  return readStoredToken();
}

/** The operator-facing explanation of a refused token. */
export function describeAuthRefusal(refusal: AuthRefusal): string {
  switch (refusal.code) {
    case 'FORBIDDEN':
      return "This token is not an admin token (the server answered 403 FORBIDDEN). Viewer and publisher tokens cannot open the dashboard; issue one with npm run token -- --room '*' --role admin.";
    case 'TOKEN_EXPIRED':
      return 'This admin token has expired (401 TOKEN_EXPIRED). Issue a new one.';
    case 'TOKEN_INVALID':
      return 'This token is not valid for this server (401 TOKEN_INVALID): wrong secret, or mangled when pasted.';
    case 'UNAUTHORIZED':
      return 'The server wants an admin token (401 UNAUTHORIZED).';
    default:
      return refusal.status === undefined ? `The token was refused (${refusal.code}).` : `The token was refused (${refusal.status} ${refusal.code}).`;
  }
}
