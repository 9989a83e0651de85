/** The stream key admin API's request validation; its wire shapes are in server/contracts/streamKeys.ts. */
import { z } from 'zod';
import { slotSchema } from './streamKey.js';

export const STREAM_KEY_MAX_BODY_BYTES = 1024;

export const createStreamKeyRequestSchema = z.strictObject({ slot: slotSchema.default('primary') });
export type CreateStreamKeyRequest = z.input<typeof createStreamKeyRequestSchema>;

export type { StreamKeyIssuedResponse, StreamKeyListResponse } from '../../contracts/streamKeys.js';
