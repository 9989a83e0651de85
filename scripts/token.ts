/**
 * Prints an access token for the configured AUTH_SECRET.
 *   npm run token -- --room R --role publisher|viewer|admin [--ttl 1h]
 */
import { parseArgs } from 'node:util';
import { TokenService, parseTtl, tokenRoleSchema } from '../server/auth/tokens.js';
import { isValidRoomId, ROOM_ID_RULE } from '../server/contracts/roomId.js';

function die(message: string): never {
  process.stderr.write(`token: ${message}\n`);
  process.exit(1);
}

const usage = 'usage: npm run token -- --room ROOM --role publisher|viewer|admin [--ttl 1h]';
let values: { room?: string; role?: string; ttl?: string };
try {
  ({ values } = parseArgs({ options: { room: { type: 'string' }, role: { type: 'string' }, ttl: { type: 'string', default: '1h' } } }));
} catch (error) {
  die(`${(error as Error).message}\n${usage}`);
}
const secret = process.env['AUTH_SECRET'];
if (!secret || secret.length < 16) die("AUTH_SECRET must be set (at least 16 characters) to the same value as the server's");
if (!values.room) die(`--room is required\n${usage}`);
const role = tokenRoleSchema.safeParse(values.role);
if (!role.success) die(`--role must be publisher, viewer or admin\n${usage}`);
if (values.room !== '*' && !isValidRoomId(values.room)) die(`--${ROOM_ID_RULE}`);
if (values.room === '*' && role.data !== 'admin') die('--room "*" is only for admin tokens');
let ttlSeconds: number;
try {
  ttlSeconds = parseTtl(values.ttl ?? '1h');
} catch (error) {
  die((error as Error).message);
}
const token = await new TokenService(secret).issue({ room: values.room, role: role.data }, ttlSeconds);
process.stdout.write(`${token}\n`);
