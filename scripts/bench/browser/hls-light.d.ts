// hls.js ships types for its full build only; the light build the client uses
// (and hlsPlayerPage.js bundles) has the same API. Same as client/src/types/hls-light.d.ts.
declare module 'hls.js/light' {
  export * from 'hls.js';
  export { default } from 'hls.js';
}
