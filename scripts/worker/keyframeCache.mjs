// Floodlight's key frame cache for mediasoup's worker (see
// keyframe-cache/KeyFrameCache.hpp for what and why). Applied by adapt.mjs;
// every edit must match exactly once, so a mediasoup upgrade that moves this
// code fails the build loudly instead of shipping a worker without the cache.
//
// How it fits: each video Producer keeps the packets it forwarded since its
// latest key frame (KeyFrameCache::Insert, just before the Router fans a packet
// out). When a Consumer that has never sent video asks for a key frame, the
// Router first tries to hand it the cached key frame and the frames since
// (Producer::ReplayKeyFrameCache); only if that is not possible (no cache, too
// old, a gap) does the request reach the sender as usual. PipeConsumers start
// from it too, per stream (each simulcast layer): a new pipe to another worker
// or to an edge node gets the key frame at once instead of waiting for the
// sender's next one, and the edge's own cache then serves its viewers. Enabled per worker
// process by FLOODLIGHT_KEYFRAME_CACHE_MS (max age; unset or 0 = off).
import fs from 'node:fs';
import path from 'node:path';

/**
 * @param {string} workerDir mediasoup worker sources (a copy)
 * @param {string} here scripts/worker
 * @param {(file: string, from: string, to: string, why: string) => void} replaceExactlyOnce
 * @param {(message: string) => never} fail
 */
export function applyKeyFrameCache(workerDir, here, replaceExactlyOnce, fail) {
  for (const [from, to] of [
    ['KeyFrameCache.hpp', 'include/RTC/KeyFrameCache.hpp'],
    ['KeyFrameCache.cpp', 'src/RTC/KeyFrameCache.cpp'],
  ]) {
    const target = path.join(workerDir, to);
    if (fs.existsSync(target)) fail(`${to} already exists in mediasoup's sources`);
    fs.copyFileSync(path.join(here, 'keyframe-cache', from), target);
    console.log(`  added ${to}`);
  }

  replaceExactlyOnce('meson.build', "  'src/RTC/KeyFrameRequestManager.cpp',\n",
    "  'src/RTC/KeyFrameRequestManager.cpp',\n  'src/RTC/KeyFrameCache.cpp',\n",
    'key frame cache: compile KeyFrameCache.cpp');

  // Producer: owns the cache (video only), feeds it, replays it.
  replaceExactlyOnce('include/RTC/Producer.hpp', '#include "RTC/KeyFrameRequestManager.hpp"\n',
    '#include "RTC/KeyFrameCache.hpp"\n#include "RTC/KeyFrameRequestManager.hpp"\n#include <functional>\n',
    'key frame cache: Producer includes it');
  replaceExactlyOnce('include/RTC/Producer.hpp', '\t\tvoid RequestKeyFrame(uint32_t mappedSsrc);\n',
    '\t\tvoid RequestKeyFrame(uint32_t mappedSsrc);\n' +
      '\t\tbool ReplayKeyFrameCache(uint32_t mappedSsrc, const std::function<void(RTC::RtpPacket*)>& send);\n',
    'key frame cache: Producer::ReplayKeyFrameCache()');
  replaceExactlyOnce('include/RTC/Producer.hpp', '\t\tRTC::KeyFrameRequestManager* keyFrameRequestManager{ nullptr };\n',
    '\t\tRTC::KeyFrameRequestManager* keyFrameRequestManager{ nullptr };\n\t\tRTC::KeyFrameCache* keyFrameCache{ nullptr };\n',
    'key frame cache: Producer member');
  replaceExactlyOnce('src/RTC/Producer.cpp',
    '\t\t\tthis->keyFrameRequestManager = new RTC::KeyFrameRequestManager(this, keyFrameRequestDelay);\n',
    '\t\t\tthis->keyFrameRequestManager = new RTC::KeyFrameRequestManager(this, keyFrameRequestDelay);\n\n' +
      '\t\t\tif (RTC::KeyFrameCache::MaxAgeMsFromEnvironment() > 0u)\n\t\t\t{\n' +
      '\t\t\t\tthis->keyFrameCache = new RTC::KeyFrameCache(RTC::KeyFrameCache::MaxAgeMsFromEnvironment());\n\t\t\t}\n',
    'key frame cache: created for video Producers when enabled');
  replaceExactlyOnce('src/RTC/Producer.cpp', '\t\tdelete this->keyFrameRequestManager;\n',
    '\t\tdelete this->keyFrameRequestManager;\n\t\tdelete this->keyFrameCache;\n',
    'key frame cache: deleted with the Producer');
  replaceExactlyOnce('src/RTC/Producer.cpp', '\t\t\t\tthis->paused = true;\n',
    '\t\t\t\tthis->paused = true;\n\n' +
      '\t\t\t\t// Nothing is forwarded while paused: the cached frames end here.\n' +
      '\t\t\t\tif (this->keyFrameCache)\n\t\t\t\t{\n\t\t\t\t\tthis->keyFrameCache->Clear();\n\t\t\t\t}\n',
    'key frame cache: cleared when the Producer pauses');
  replaceExactlyOnce('src/RTC/Producer.cpp', '\t\tthis->listener->OnProducerRtpPacketReceived(this, packet);\n',
    '\t\tif (this->keyFrameCache)\n\t\t{\n\t\t\tthis->keyFrameCache->Insert(packet, DepLibUV::GetTimeMs());\n\t\t}\n\n' +
      '\t\tthis->listener->OnProducerRtpPacketReceived(this, packet);\n',
    'key frame cache: every forwarded packet goes through it');
  replaceExactlyOnce('src/RTC/Producer.cpp', '\tRTC::RtpStreamRecv* Producer::GetRtpStream(RTC::RtpPacket* packet)\n',
    '\tbool Producer::ReplayKeyFrameCache(\n\t  uint32_t mappedSsrc, const std::function<void(RTC::RtpPacket*)>& send)\n\t{\n' +
      '\t\tMS_TRACE();\n\n' +
      '\t\tif (!this->keyFrameCache || this->paused)\n\t\t{\n\t\t\treturn false;\n\t\t}\n\n' +
      '\t\treturn this->keyFrameCache->Replay(mappedSsrc, DepLibUV::GetTimeMs(), send);\n\t}\n\n' +
      '\tRTC::RtpStreamRecv* Producer::GetRtpStream(RTC::RtpPacket* packet)\n',
    'key frame cache: Producer::ReplayKeyFrameCache() definition');

  // Consumers: which of them may start from the cache (never sent video yet).
  replaceExactlyOnce('include/RTC/Consumer.hpp', '\t\tvoid TransportConnected();\n',
    '\t\t// Floodlight key frame cache: true while this Consumer has never sent\n' +
      '\t\t// video and needs a key frame to start.\n' +
      '\t\tvirtual bool IsWaitingForFirstKeyFrame() const\n\t\t{\n\t\t\treturn false;\n\t\t}\n' +
      '\t\t// The same for one of its streams (mappedSsrc): a PipeConsumer carries\n' +
      '\t\t// every simulcast layer, each starting on its own key frame.\n' +
      '\t\tvirtual bool IsWaitingForFirstKeyFrameOn(uint32_t /*mappedSsrc*/) const\n\t\t{\n' +
      '\t\t\treturn IsWaitingForFirstKeyFrame();\n\t\t}\n' +
      '\t\tvoid TransportConnected();\n',
    'key frame cache: Consumer::IsWaitingForFirstKeyFrame() (default: no)');
  const producerRtpStream = '\t\tvoid ProducerRtpStream(RTC::RtpStreamRecv* rtpStream, uint32_t mappedSsrc) override;\n';
  replaceExactlyOnce('include/RTC/SimpleConsumer.hpp', producerRtpStream,
    '\t\tbool IsWaitingForFirstKeyFrame() const override\n\t\t{\n' +
      '\t\t\treturn this->kind == RTC::Media::Kind::VIDEO && this->keyFrameSupported && this->syncRequired &&\n' +
      '\t\t\t       this->rtpStream && this->rtpStream->GetMaxPacketMs() == 0u;\n\t\t}\n' + producerRtpStream,
    'key frame cache: a SimpleConsumer that has sent nothing may start from it');
  replaceExactlyOnce('include/RTC/SimulcastConsumer.hpp', producerRtpStream,
    '\t\tbool IsWaitingForFirstKeyFrame() const override\n\t\t{\n' +
      '\t\t\treturn this->kind == RTC::Media::Kind::VIDEO && this->currentSpatialLayer == -1 &&\n' +
      '\t\t\t       this->rtpStream && this->rtpStream->GetMaxPacketMs() == 0u;\n\t\t}\n' + producerRtpStream,
    'key frame cache: a SimulcastConsumer that has sent nothing may start from it');
  // A pipe (to another worker, or to an edge node) starts each layer from the cache: without it
  // a new pipe waits for the sender's next key frame, and so does the first viewer behind it.
  replaceExactlyOnce('include/RTC/PipeConsumer.hpp', producerRtpStream,
    '\t\tbool IsWaitingForFirstKeyFrameOn(uint32_t mappedSsrc) const override\n\t\t{\n' +
      '\t\t\tif (this->kind != RTC::Media::Kind::VIDEO || !this->keyFrameSupported)\n\t\t\t{\n\t\t\t\treturn false;\n\t\t\t}\n\n' +
      '\t\t\tconst auto ssrcIt = this->mapMappedSsrcSsrc.find(mappedSsrc);\n\n' +
      '\t\t\tif (ssrcIt == this->mapMappedSsrcSsrc.end())\n\t\t\t{\n\t\t\t\treturn false;\n\t\t\t}\n\n' +
      '\t\t\tconst auto streamIt = this->mapSsrcRtpStream.find(ssrcIt->second);\n\n' +
      '\t\t\tif (streamIt == this->mapSsrcRtpStream.end())\n\t\t\t{\n\t\t\t\treturn false;\n\t\t\t}\n\n' +
      '\t\t\tauto* rtpStream  = streamIt->second;\n' +
      '\t\t\tconst auto syncIt = this->mapRtpStreamSyncRequired.find(rtpStream);\n\n' +
      '\t\t\treturn syncIt != this->mapRtpStreamSyncRequired.end() && syncIt->second &&\n' +
      '\t\t\t       rtpStream->GetMaxPacketMs() == 0u;\n\t\t}\n' + producerRtpStream,
    'key frame cache: a PipeConsumer stream that has sent nothing may start from it');

  // Router: try the cache before asking the sender.
  replaceExactlyOnce('include/RTC/Router.hpp', '\t\tabsl::flat_hash_map<std::string, RTC::DataProducer*> mapDataProducers;\n',
    '\t\tabsl::flat_hash_map<std::string, RTC::DataProducer*> mapDataProducers;\n' +
      '\t\t// Set while a key frame cache is being replayed (guards re-entry).\n\t\tbool replayingKeyFrameCache{ false };\n',
    'key frame cache: Router re-entry guard');
  replaceExactlyOnce('src/RTC/Router.cpp',
    '\t  RTC::Transport* /*transport*/, RTC::Consumer* consumer, uint32_t mappedSsrc)\n',
    '\t  RTC::Transport* transport, RTC::Consumer* consumer, uint32_t mappedSsrc)\n',
    'key frame cache: the Router looks at the Consumer\'s transport');
  replaceExactlyOnce('src/RTC/Router.cpp',
    '\t\tauto* producer = this->mapConsumerProducer.at(consumer);\n\n\t\tproducer->RequestKeyFrame(mappedSsrc);\n',
    '\t\tauto* producer = this->mapConsumerProducer.at(consumer);\n\n' +
      '\t\t// Floodlight key frame cache: a Consumer starting out gets the latest key\n' +
      '\t\t// frame and the frames since at once. Replaying happens right here, inside\n' +
      '\t\t// the request, so that no newer packet can reach the Consumer first. If it\n' +
      '\t\t// could not start from them (no cache, too old, a gap, another layer), the\n' +
      '\t\t// request goes on to the sender.\n' +
      '\t\t// Only WebRTC viewers and pipes (which carry it to viewers on another\n' +
      '\t\t// worker or node): a recorder (PlainTransport → ffmpeg) gains nothing from\n' +
      '\t\t// a head start, and cuts its HLS segments at the key frames it asks for.\n' +
      '\t\t// clang-format off\n' +
      '\t\tif (\n\t\t\t!this->replayingKeyFrameCache &&\n' +
      '\t\t\t(\n\t\t\t\tdynamic_cast<RTC::WebRtcTransport*>(transport) != nullptr ||\n' +
      '\t\t\t\tdynamic_cast<RTC::PipeTransport*>(transport) != nullptr\n\t\t\t) &&\n' +
      '\t\t\tconsumer->IsWaitingForFirstKeyFrameOn(mappedSsrc)\n\t\t)\n' +
      '\t\t// clang-format on\n\t\t{\n' +
      '\t\t\tthis->replayingKeyFrameCache = true;\n\n' +
      '\t\t\tconst auto& mid = consumer->GetRtpParameters().mid;\n\n' +
      '\t\t\tproducer->ReplayKeyFrameCache(\n\t\t\t  mappedSsrc,\n\t\t\t  [consumer, &mid](RTC::RtpPacket* packet)\n\t\t\t  {\n' +
      '\t\t\t\t  if (!mid.empty())\n\t\t\t\t  {\n\t\t\t\t\t  packet->UpdateMid(mid);\n\t\t\t\t  }\n\n' +
      '\t\t\t\t  RTC::SharedRtpPacket sharedPacket;\n\n' +
      '\t\t\t\t  consumer->SendRtpPacket(packet, sharedPacket);\n\t\t\t  });\n\n' +
      '\t\t\tthis->replayingKeyFrameCache = false;\n\n' +
      '\t\t\tif (!consumer->IsWaitingForFirstKeyFrameOn(mappedSsrc))\n\t\t\t{\n\t\t\t\treturn;\n\t\t\t}\n\t\t}\n\n' +
      '\t\tproducer->RequestKeyFrame(mappedSsrc);\n',
    'key frame cache: Router replays it before asking the sender');
}
