// hls.js ships types for its full build only; the light build (no subtitles,
// alternate audio, DRM, CMCD — none of which Floodlight's HLS uses) has the
// same API.
declare module 'hls.js/light' {
  export * from 'hls.js';
  export { default } from 'hls.js';
}
