/**
 * Stream keys in a JSON file (single node, the default): `<dir>/stream-keys.json`,
 * mode 0600, rewritten atomically (temp file + rename) so a crash never leaves
 * half a file. Every call reads the file again: `npm run key` edits it from
 * another process while the server runs, and lookups are rare (one per ingest
 * connection). Writes of this process are serialised; two processes writing at
 * the very same moment could lose one change (the CLI is a human's tool).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { SourceSlot } from '../../sources/mediaSource.js';
import {
  StreamKeyError,
  keyInfo,
  keyMatches,
  mintStreamKey,
  newStreamKeyId,
  streamKeyId,
  streamKeyRecordSchema,
  type IssuedStreamKey,
  type StreamKeyGrant,
  type StreamKeyInfo,
  type StreamKeyRecord,
} from './streamKey.js';
import { bySlot, type StreamKeyStore } from './streamKeyStore.js';

export const STREAM_KEYS_FILE = 'stream-keys.json';

const fileSchema = z.object({ version: z.literal(1), keys: z.array(streamKeyRecordSchema) });

export class FileStreamKeyStore implements StreamKeyStore {
  readonly file: string;
  #writes: Promise<unknown> = Promise.resolve();

  constructor(dir: string) {
    this.file = path.join(dir, STREAM_KEYS_FILE);
  }

  async create(room: string, slot: SourceSlot): Promise<IssuedStreamKey> {
    return this.#update((records) => {
      const taken = records.find((r) => r.room === room && r.slot === slot);
      if (taken) throw new StreamKeyError('exists', `room "${room}" already has a ${slot} key (${taken.id}); rotate or revoke it`);
      const { key, record } = mintStreamKey(newStreamKeyId(), room, slot);
      records.push(record);
      return { ...keyInfo(record), key };
    });
  }

  async list(room: string): Promise<StreamKeyInfo[]> {
    const records = await this.#read();
    return records
      .filter((r) => r.room === room)
      .map((r) => keyInfo(r))
      .sort(bySlot);
  }

  async rotate(room: string, id: string): Promise<IssuedStreamKey> {
    return this.#update((records) => {
      const index = records.findIndex((r) => r.room === room && r.id === id);
      if (index === -1) throw new StreamKeyError('not-found', `room "${room}" has no key ${id}`);
      const { key, record } = mintStreamKey(id, room, records[index]!.slot);
      records[index] = record;
      return { ...keyInfo(record), key };
    });
  }

  async revoke(room: string, id: string): Promise<void> {
    await this.#update((records) => {
      const index = records.findIndex((r) => r.room === room && r.id === id);
      if (index === -1) throw new StreamKeyError('not-found', `room "${room}" has no key ${id}`);
      records.splice(index, 1);
    });
  }

  async resolve(key: string): Promise<StreamKeyGrant | undefined> {
    const id = streamKeyId(key);
    if (id === undefined) return undefined;
    const record = (await this.#read()).find((r) => r.id === id);
    if (!record || !keyMatches(key, record)) return undefined;
    // Recording the use must not fail the ingest.
    await this.#update((records) => {
      const current = records.find((r) => r.id === id && r.hash === record.hash);
      if (current) current.lastUsedAt = new Date().toISOString();
    }).catch(() => undefined);
    return { keyId: record.id, room: record.room, slot: record.slot };
  }

  async close(): Promise<void> {
    await this.#writes.catch(() => undefined);
  }

  async #read(): Promise<StreamKeyRecord[]> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`${this.file} is not valid JSON; fix or remove it`);
    }
    const parsed = fileSchema.safeParse(json);
    if (!parsed.success) throw new Error(`${this.file} is not a stream key file: ${parsed.error.issues[0]?.message ?? 'bad shape'}`);
    return parsed.data.keys;
  }

  /** Read, change, write atomically; one change at a time in this process. */
  #update<T>(change: (records: StreamKeyRecord[]) => T): Promise<T> {
    const run = this.#writes.then(async () => {
      const records = await this.#read();
      const result = change(records);
      await this.#write(records);
      return result;
    });
    this.#writes = run.catch(() => undefined);
    return run;
  }

  async #write(records: StreamKeyRecord[]): Promise<void> {
    await fs.mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const temp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await fs.writeFile(temp, `${JSON.stringify({ version: 1, keys: records }, null, 2)}\n`, { mode: 0o600 });
      await fs.rename(temp, this.file);
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error;
    }
  }
}
