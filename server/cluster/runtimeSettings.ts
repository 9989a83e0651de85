/**
 * Settings operators change without a restart: the HLS ladder per room, HLS
 * redundancy per room (two recorders, issue 12), MAX_WEBRTC_VIEWERS, and the
 * drain flag per node. A store plus change
 * events; what each node does with them is its services' business. An unset
 * setting means "the configured default". Implementations: in memory (one
 * node) and Redis (a hash every node follows, applied within 2 s).
 */
import { z } from 'zod';
import { roomIdSchema } from '../contracts/signaling.js';
import { NODE_ID_PATTERN } from './nodeRegistry.js';
import type { RuntimeSettingsSnapshot } from '../contracts/clusterApi.js';

/** One setting and its new value; `undefined` clears it (back to the configured default). */
export type SettingChange =
  | { setting: 'maxWebRtcViewers'; value: number | undefined }
  | { setting: 'hlsLadder'; room: string; value: boolean | undefined }
  | { setting: 'hlsRedundant'; room: string; value: boolean | undefined }
  | { setting: 'drain'; node: string; value: boolean | undefined };

export type { RuntimeSettingsSnapshot } from '../contracts/clusterApi.js';

export interface RuntimeSettings {
  /** The settings as applied on this node. */
  snapshot(): RuntimeSettingsSnapshot;
  /** Bad input throws a TypeError naming the problem and changes nothing. */
  set(change: SettingChange): Promise<void>;
  onChange(listener: (change: SettingChange) => void): () => void;
  close(): Promise<void>;
}

const changeSchema = z.discriminatedUnion('setting', [
  z.strictObject({ setting: z.literal('maxWebRtcViewers'), value: z.number().int().min(0).max(1_000_000).optional() }),
  z.strictObject({ setting: z.literal('hlsLadder'), room: roomIdSchema, value: z.boolean().optional() }),
  z.strictObject({ setting: z.literal('hlsRedundant'), room: roomIdSchema, value: z.boolean().optional() }),
  z.strictObject({
    setting: z.literal('drain'),
    node: z.string().regex(NODE_ID_PATTERN, 'node id must be 1-64 characters of A-Z a-z 0-9 _ . -'),
    value: z.boolean().optional(),
  }),
]);

export function parseSettingChange(change: unknown): SettingChange {
  const parsed = changeSchema.safeParse(change);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new TypeError(`invalid setting: ${issue.path.join('.') || 'value'}: ${issue.message}`);
  }
  return parsed.data;
}

/** Settings that take a room id. */
const ROOM_SETTINGS: ReadonlySet<string> = new Set(['hlsLadder', 'hlsRedundant']);

/** Storage form: one field per setting ("maxWebRtcViewers", "hlsLadder:<room>", "hlsRedundant:<room>", "drain:<node>"), JSON values. */
export function settingField(change: SettingChange): string {
  if (change.setting === 'maxWebRtcViewers') return change.setting;
  return change.setting === 'drain' ? `drain:${change.node}` : `${change.setting}:${change.room}`;
}

/** The change a stored field and value stand for; undefined for anything malformed (ignored). */
export function settingFromField(field: string, raw: string | null): SettingChange | undefined {
  let value: unknown;
  try {
    value = raw === null ? undefined : JSON.parse(raw);
  } catch {
    return undefined;
  }
  const colon = field.indexOf(':');
  const setting = colon === -1 ? field : field.slice(0, colon);
  const id = field.slice(colon + 1);
  const candidate = ROOM_SETTINGS.has(setting) ? { setting, room: id, value } : setting === 'drain' ? { setting, node: id, value } : { setting, value };
  try {
    return parseSettingChange(candidate);
  } catch {
    return undefined;
  }
}

/** The applied settings of one node and its listeners; shared by both implementations. */
export class AppliedSettings {
  #maxWebRtcViewers: number | undefined;
  readonly #hlsLadder = new Map<string, boolean>();
  readonly #hlsRedundant = new Map<string, boolean>();
  readonly #drain = new Map<string, boolean>();
  readonly #listeners = new Set<(change: SettingChange) => void>();
  readonly #onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void = () => undefined) {
    this.#onListenerError = onListenerError;
  }

  snapshot(): RuntimeSettingsSnapshot {
    return {
      maxWebRtcViewers: this.#maxWebRtcViewers,
      hlsLadder: Object.fromEntries(this.#hlsLadder),
      ...(this.#hlsRedundant.size > 0 ? { hlsRedundant: Object.fromEntries(this.#hlsRedundant) } : {}),
      drain: Object.fromEntries(this.#drain),
    };
  }

  /** Every setting currently applied, as changes (for diffing against a reload). */
  entries(): SettingChange[] {
    const all: SettingChange[] = [];
    if (this.#maxWebRtcViewers !== undefined) all.push({ setting: 'maxWebRtcViewers', value: this.#maxWebRtcViewers });
    for (const [room, value] of this.#hlsLadder) all.push({ setting: 'hlsLadder', room, value });
    for (const [room, value] of this.#hlsRedundant) all.push({ setting: 'hlsRedundant', room, value });
    for (const [node, value] of this.#drain) all.push({ setting: 'drain', node, value });
    return all;
  }

  /** Applies a change; listeners hear of it only if something changed. */
  apply(change: SettingChange): void {
    if (!this.#store(change)) return;
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }

  onChange(listener: (change: SettingChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  clearListeners(): void {
    this.#listeners.clear();
  }

  #store(change: SettingChange): boolean {
    if (change.setting === 'maxWebRtcViewers') {
      if (this.#maxWebRtcViewers === change.value) return false;
      this.#maxWebRtcViewers = change.value;
      return true;
    }
    const map = change.setting === 'hlsLadder' ? this.#hlsLadder : change.setting === 'hlsRedundant' ? this.#hlsRedundant : this.#drain;
    const key = change.setting === 'drain' ? change.node : change.room;
    if (map.get(key) === change.value) return false;
    if (change.value === undefined) map.delete(key);
    else map.set(key, change.value);
    return true;
  }
}

export class MemoryRuntimeSettings implements RuntimeSettings {
  readonly #applied: AppliedSettings;

  constructor(options: { onListenerError?: (error: unknown) => void } = {}) {
    this.#applied = new AppliedSettings(options.onListenerError);
  }

  snapshot(): RuntimeSettingsSnapshot {
    return this.#applied.snapshot();
  }

  async set(change: SettingChange): Promise<void> {
    this.#applied.apply(parseSettingChange(change));
  }

  onChange(listener: (change: SettingChange) => void): () => void {
    return this.#applied.onChange(listener);
  }

  async close(): Promise<void> {
    this.#applied.clearListeners();
  }
}
