/**
 * LL-HLS packaging: fragmented MP4 from ffmpeg in, LL-HLS playlists, parts and
 * segments out, served by an express Router.
 *
 *   const hls = new HlsRoomPackager({ root, room, renditions: [{ name: '720p' }, …] });
 *   ffmpegOutput720p.pipe(hls.renditions['720p'].createWritable());
 *   app.use('/hls', createHlsRouter({ root, lookup: (room) => rooms.get(room)?.hls.renditions }));
 */
export { BoxReader, Mp4ParseError, parseMoof, parseMoov, trackDefaults } from './mp4Boxes.js';
export type { Mp4Box, MoofInfo, MoovInfo, TrackInfo, TrafInfo } from './mp4Boxes.js';
export { CmafSegmenter } from './cmafSegmenter.js';
export type { CmafPart, CmafSegment, InitSection, SegmenterEvent, SegmenterOptions } from './cmafSegmenter.js';
export { advancePartLimit, buildMasterPlaylist, buildMediaPlaylist, targetDurationFor } from './llHlsPlaylist.js';
export type {
  InProgressSegment,
  MasterPlaylistInput,
  MediaPlaylistInput,
  PlaylistPart,
  PlaylistSegment,
  RenditionReport,
  VariantStream,
} from './llHlsPlaylist.js';
export { HlsDiskError, PACKAGER_FILE_PATTERN, PLAYLIST_FILE, RenditionPackager } from './renditionPackager.js';
export type { PackagerStats, PublishInfo, RenditionInfo, RenditionPackagerEvents, RenditionPackagerOptions, RenditionStatus } from './renditionPackager.js';
export { declaredBandwidth, HlsRoomPackager, masterPlaylistFor, RENDITION_NAME_PATTERN, ROOM_NAME_PATTERN } from './roomPackager.js';
export type { HlsRoomPackagerOptions, RenditionPackagers, RoomRendition } from './roomPackager.js';
export { createHlsRouter, directiveProblem, MEDIA_CONTENT_TYPE, PLAYLIST_CONTENT_TYPE } from './hlsRoutes.js';
export type { HlsRoutesOptions } from './hlsRoutes.js';
