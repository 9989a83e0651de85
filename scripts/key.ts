/**
 * Stream keys from the command line, in the store the server uses
 * (STREAM_KEYS_DIR, or Redis with REDIS_URL / REDIS_SENTINELS):
 *   npm run key -- --room R [--backup]     create the room's primary (or backup) key; prints it once
 *   npm run key -- --room R --list         the room's keys, without secrets
 *   npm run key -- --room R --rotate ID    a new secret for key ID
 *   npm run key -- --room R --revoke ID    delete key ID
 */
import { parseArgs } from 'node:util';
import { loadConfig, ConfigError } from '../server/config/config.js';
import { createLogger } from '../server/observability/logger.js';
import { isValidRoomId, ROOM_ID_RULE } from '../server/contracts/roomId.js';
import { createStreamKeyStore } from '../server/ingest/keys/createStreamKeyStore.js';
import { StreamKeyError, type IssuedStreamKey } from '../server/ingest/keys/streamKey.js';

const usage = 'usage: npm run key -- --room ROOM [--backup] | --list | --rotate ID | --revoke ID';

function die(message: string): never {
  process.stderr.write(`key: ${message}\n`);
  process.exit(1);
}

let values: { room?: string; backup?: boolean; list?: boolean; rotate?: string; revoke?: string };
try {
  ({ values } = parseArgs({
    options: { room: { type: 'string' }, backup: { type: 'boolean' }, list: { type: 'boolean' }, rotate: { type: 'string' }, revoke: { type: 'string' } },
  }));
} catch (error) {
  die(`${(error as Error).message}\n${usage}`);
}
const room = values.room;
if (!room) die(`--room is required\n${usage}`);
if (!isValidRoomId(room)) die(`--${ROOM_ID_RULE}`);
const actions = [values.list, values.rotate, values.revoke].filter((v) => v !== undefined && v !== false).length;
if (actions > 1 || (actions === 1 && values.backup)) die(`choose one of --backup, --list, --rotate, --revoke\n${usage}`);

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  die(error instanceof ConfigError ? error.message : String(error));
}
const store = await createStreamKeyStore(config, 'floodlight-key-cli', createLogger('warn'));

function printIssued(key: IssuedStreamKey): void {
  const base = config.publicUrl ?? `http://${config.announcedIp}:${config.port}`;
  process.stdout.write(`${key.key}\n`);
  process.stderr.write(
    `\n${key.slot} key ${key.id} for room "${key.room}" — shown once, store it now.\n` +
      `OBS: Settings → Stream → Service "WHIP", Server ${base}/whip/${key.room}, Bearer Token: the key above.\n`,
  );
}

try {
  if (values.list) {
    const keys = await store.list(room);
    if (keys.length === 0) process.stdout.write(`room "${room}" has no stream keys\n`);
    for (const k of keys) process.stdout.write(`${k.id}  ${k.slot.padEnd(7)}  ${k.prefix}  created ${k.createdAt}  last used ${k.lastUsedAt ?? 'never'}\n`);
  } else if (values.rotate !== undefined) {
    printIssued(await store.rotate(room, values.rotate));
  } else if (values.revoke !== undefined) {
    await store.revoke(room, values.revoke);
    process.stdout.write(`revoked key ${values.revoke} of room "${room}"\n`);
  } else {
    printIssued(await store.create(room, values.backup ? 'backup' : 'primary'));
  }
} catch (error) {
  await store.close();
  die(error instanceof StreamKeyError ? error.message : (error as Error).message);
}
await store.close();
