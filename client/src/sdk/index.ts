export { Publisher } from './publisher';
export type { PublisherEvents, PublisherOptions, PublisherState, PublishOptions } from './publisher';
export { FloodlightError, SignalingError } from './errors';
export type { ClientErrorCode, FloodlightErrorCode } from './errors';
export type { VideoCodecName, VideoSource } from './encoding';
export { Viewer } from './viewer';
export type { Quality, ViewerEvents, ViewerOptions, ViewerState, ViewerStats } from './viewer';
