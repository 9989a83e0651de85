/**
 * The takeover playlist of a follower (issue 12, redundant origins) on real
 * fMP4 from ffmpeg: a leader's packager output seeds it (what was mirrored),
 * the follower's own packager — another session, its own numbering —
 * continues it: numbering on from the last mirrored msn, a discontinuity
 * with the own init, the unfinished mirrored segment closed with its parts,
 * and the discontinuity sequence counting once the boundary leaves the window.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BoxReader } from '../../server/hls/mp4Boxes.js';
import { RenditionPackager } from '../../server/hls/renditionPackager.js';
import { TakeoverPlaylist } from '../../server/hls/mirror/takeoverPlaylist.js';
import { filesNamed, parseMediaPlaylist, playlistEdge, type ParsedMediaPlaylist } from '../../server/hls/mirror/playlistText.js';
import { generateFmp4, killFmp4Generators } from '../helpers/fmp4Fixture.js';

let tmpRoot: string;
let init: Buffer;
let fragments: Buffer[];

before(async () => {
  tmpRoot = await fsp.mkdtemp(path.join(os.tmpdir(), 'fl-takeover-'));
  const boxes = new BoxReader().push(await generateFmp4(12));
  init = Buffer.concat(boxes.filter((b) => b.type === 'ftyp' || b.type === 'moov').map((b) => b.data));
  fragments = [];
  let moof: Buffer | undefined;
  for (const box of boxes) {
    if (box.type === 'moof') moof = box.data;
    else if (box.type === 'mdat' && moof) fragments.push(Buffer.concat([moof, box.data]));
  }
});

after(async () => {
  killFmp4Generators();
  await fsp.rm(tmpRoot, { recursive: true, force: true });
});

function packager(name: string, sessionId: string): RenditionPackager {
  return new RenditionPackager({ dir: path.join(tmpRoot, name, '240'), root: tmpRoot, sessionId, partTargetSec: 0.25 });
}

async function feed(target: RenditionPackager, chunks: Buffer[]): Promise<ParsedMediaPlaylist> {
  for (const chunk of chunks) target.write(chunk);
  await target.idle();
  return parseMediaPlaylist(target.playlist!);
}

test('a follower continues the mirrored playlist with its own output: numbering on, a discontinuity, the unfinished segment closed', async () => {
  // The leader: 6 s of segments, and two parts of the seventh (1 s GOP, 250 ms parts).
  const leader = packager('leader', 'lead');
  const mirrored = await feed(leader, [init, ...fragments.slice(0, 26)]);
  await leader.close();
  assert.ok(mirrored.inProgress && mirrored.inProgress.parts.length === 2, 'the leader was filling a segment');
  const lastMirroredMsn = mirrored.inProgress.msn;

  // The follower's own packager started later: lower numbers, another session id.
  const own = packager('own', 'stby');
  let ownPlaylist = await feed(own, [init, ...fragments.slice(0, 10)]);
  assert.ok(ownPlaylist.inProgress, 'the standby is filling a segment');

  const model = new TakeoverPlaylist(mirrored);
  assert.deepEqual(model.closedSegment, { uri: `seg-lead-${lastMirroredMsn}.m4s`, parts: mirrored.inProgress.parts.map((p) => p.uri) });

  const linked = model.absorb(ownPlaylist);
  assert.ok(linked.includes('init-stby-0.mp4'), 'the own init is linked');
  assert.deepEqual(
    linked.filter((f) => f.startsWith('part-')),
    ownPlaylist.inProgress.parts.map((p) => p.uri),
    'the parts of the own segment being filled are linked (they answer held reloads at once)',
  );
  let served = parseMediaPlaylist(model.render(undefined));
  // The closed segment joins the window, which keeps its length: the oldest mirrored one leaves.
  assert.equal(served.mediaSequence, mirrored.mediaSequence + 1);
  assert.equal(served.segments.length, mirrored.segments.length);
  assert.equal(served.discontinuitySequence, mirrored.discontinuitySequence);
  const closed = served.segments[served.segments.length - 1]!;
  assert.equal(closed.msn, lastMirroredMsn);
  assert.equal(closed.uri, `seg-lead-${lastMirroredMsn}.m4s`);
  const partsDuration = mirrored.inProgress.parts.reduce((sum, p) => sum + p.duration, 0);
  assert.ok(Math.abs(closed.duration - partsDuration) < 1e-4, `the closed segment lasts its two parts (${closed.duration})`);
  assert.equal(closed.programDateTime, mirrored.inProgress.programDateTime, 'mirrored PDT kept');
  assert.deepEqual(
    served.segments.slice(0, -1).map((s) => [s.uri, s.programDateTime]),
    mirrored.segments.slice(1).map((s) => [s.uri, s.programDateTime]),
    'mirrored segments kept as they were',
  );
  assert.ok(served.inProgress, 'the own segment being filled follows');
  assert.equal(served.inProgress.msn, lastMirroredMsn + 1, 'numbered on from the last mirrored msn');
  assert.equal(served.inProgress.discontinuity, true, 'after a discontinuity');
  assert.equal(served.inProgress.mapUri, 'init-stby-0.mp4', 'with the own init');
  assert.deepEqual(served.inProgress.parts, ownPlaylist.inProgress.parts);
  assert.equal(served.preloadHint, ownPlaylist.preloadHint, 'the own next part is hinted');
  assert.deepEqual(model.edge(), playlistEdge(served));
  assert.equal(model.render(undefined).match(/#EXT-X-DISCONTINUITY\n/g)?.length, 1);

  // The own output goes on: only new files are linked, numbers continue, the window slides.
  const before = new Set(filesNamed(served));
  ownPlaylist = await feed(own, fragments.slice(10, 22));
  const more = model.absorb(ownPlaylist);
  assert.ok(more.length > 0 && more.every((f) => !before.has(f) || f.startsWith('seg-')), 'only new files are linked');
  served = parseMediaPlaylist(model.render(undefined));
  const msns = served.segments.map((s) => s.msn);
  assert.deepEqual(
    msns,
    msns.map((_, i) => served.mediaSequence + i),
    'no gap in the numbering',
  );
  const firstOwn = served.segments.find((s) => s.msn === lastMirroredMsn + 1)!;
  assert.equal(firstOwn.discontinuity, true);
  assert.match(firstOwn.uri, /^seg-stby-\d+\.m4s$/, 'own segments keep their own names');
  assert.equal(served.segments.length, mirrored.segments.length, 'the window keeps its length');

  // Once the boundary has left the window, the discontinuity sequence counts it.
  ownPlaylist = await feed(own, fragments.slice(22, 48));
  model.absorb(ownPlaylist);
  served = parseMediaPlaylist(model.render(undefined));
  assert.ok(served.mediaSequence > lastMirroredMsn + 1, 'everything mirrored has left the window');
  assert.equal(served.discontinuitySequence, mirrored.discontinuitySequence + 1);
  assert.ok(served.segments.every((s) => s.mapUri === 'init-stby-0.mp4' && !s.discontinuity));
  await own.close();
});

test('a follower that mirrored nothing yet serves its own output from msn 0', async () => {
  const own = packager('alone', 'solo');
  const ownPlaylist = await feed(own, [init, ...fragments.slice(0, 6)]);
  const model = new TakeoverPlaylist(undefined);
  assert.equal(model.closedSegment, undefined);
  model.absorb(ownPlaylist);
  const served = parseMediaPlaylist(model.render(undefined));
  assert.equal(served.mediaSequence, 0);
  assert.equal(served.inProgress?.msn ?? served.segments[0]?.msn, 0);
  await own.close();
});
