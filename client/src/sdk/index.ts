export { Publisher } from './publisher.js';
export type { PublisherEvents, PublisherOptions, PublisherState, PublishOptions } from './publisher.js';
export { FloodlightError, SignalingError } from './errors.js';
export type { ClientErrorCode, FloodlightErrorCode } from './errors.js';
export type { VideoCodecName, VideoSource } from './encoding.js';
export { Viewer } from './viewer.js';
export type { Quality, ViewerEvents, ViewerOptions, ViewerState, ViewerStats } from './viewer.js';
