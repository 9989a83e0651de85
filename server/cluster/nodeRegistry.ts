/**
 * The nodes of a cluster: each announces who it is (public URL, media
 * address, region, roles), whether it takes new work (serving / draining) and
 * its load, renewed every second; a node that stops renewing is gone for
 * everyone within NODE_TTL_MS. One live process per node id: announcing an id
 * that another live process holds is refused. Implementations: in memory
 * (one process; several registries on one hub for tests) and Redis.
 */
import { z } from 'zod';

export const NODE_TTL_MS = 3_000;
export const NODE_RENEW_MS = 1_000;

export const NODE_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

const nodeLoadSchema = z.strictObject({
  /** Share of the machine's CPU in use, 0-1. */
  cpu: z.number().min(0).max(1),
  viewers: z.number().int().min(0),
  consumers: z.number().int().min(0),
  bitrateOutBps: z.number().min(0),
});

export const nodeAnnouncementSchema = z.strictObject({
  id: z.string().regex(NODE_ID_PATTERN, 'node id must be 1-64 characters of A-Z a-z 0-9 _ . -'),
  publicUrl: z.url({ protocol: /^https?$/ }),
  /** Address other nodes' pipes reach this node's media on. */
  mediaAddress: z.string().min(1).max(255),
  region: z.string().min(1).max(64),
  roles: z.array(z.enum(['webrtc', 'hls'])).min(1),
  state: z.enum(['serving', 'draining']),
  load: nodeLoadSchema,
});

export type NodeLoad = z.infer<typeof nodeLoadSchema>;
export type NodeAnnouncement = z.infer<typeof nodeAnnouncementSchema>;
export type NodeRole = NodeAnnouncement['roles'][number];
export type NodeState = NodeAnnouncement['state'];

export interface NodeRecord extends NodeAnnouncement {
  /** When the node last renewed its announcement (its own clock). */
  updatedAt: string;
}

export const nodeRecordSchema = nodeAnnouncementSchema.extend({ updatedAt: z.string() });

export class NodeIdTakenError extends Error {
  constructor(readonly holder: NodeRecord) {
    super(`node id "${holder.id}" is already announced by a live process (${holder.publicUrl}); give each node its own NODE_ID`);
    this.name = 'NodeIdTakenError';
  }
}

/** Bad announcement: a clear message naming the field. */
export function parseAnnouncement(node: NodeAnnouncement): NodeAnnouncement {
  const parsed = nodeAnnouncementSchema.safeParse(node);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new TypeError(`invalid node announcement: ${issue.path.join('.') || 'value'}: ${issue.message}`);
  }
  return parsed.data;
}

export interface NodeRegistry {
  /** Announces this node and keeps it announced until close(). NodeIdTakenError if a live process holds the id. */
  announce(node: NodeAnnouncement): Promise<void>;
  /** Changes this node's state or load; carried by the next renewal (within NODE_RENEW_MS). */
  update(change: Partial<Pick<NodeAnnouncement, 'state' | 'load'>>): void;
  /** Live nodes, by id. */
  nodes(): Promise<NodeRecord[]>;
  get(id: string): Promise<NodeRecord | undefined>;
  /** Withdraws this node's announcement. Idempotent. */
  close(): Promise<void>;
}
