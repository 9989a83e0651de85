// Floodlight addition to mediasoup's worker (copied in by scripts/worker/adapt.mjs).
#ifndef MS_RTC_KEY_FRAME_CACHE_HPP
#define MS_RTC_KEY_FRAME_CACHE_HPP

#include "common.hpp"
#include "RTC/RtpPacket.hpp"
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

namespace RTC
{
	/**
	 * Keeps, per video RTP stream of a Producer, the packets forwarded since the
	 * stream's latest key frame, for as long as that key frame is younger than
	 * maxAgeMs. A Consumer that has never sent video is handed these packets at
	 * once (Router::OnTransportConsumerKeyFrameRequested) instead of asking the
	 * sender for a new key frame.
	 *
	 * Why: a browser sender makes at most one key frame per 300 ms, so viewers
	 * joining together otherwise wait up to that long for their first frame, and
	 * every join costs all viewers a key frame's worth of bitrate.
	 */
	class KeyFrameCache
	{
	public:
		/**
		 * maxAgeMs from FLOODLIGHT_KEYFRAME_CACHE_MS (0 or unset: no cache).
		 */
		static uint32_t MaxAgeMsFromEnvironment();

	public:
		explicit KeyFrameCache(uint32_t maxAgeMs);

	public:
		/**
		 * Every packet the Producer forwards, after mangling (mapped SSRC).
		 */
		void Insert(const RTC::RtpPacket* packet, uint64_t nowMs);
		/**
		 * Calls send() with each cached packet of mappedSsrc, oldest first, if the
		 * cache holds an unbroken run of packets from a key frame no older than
		 * maxAgeMs. Returns whether it did.
		 */
		bool Replay(uint32_t mappedSsrc, uint64_t nowMs, const std::function<void(RTC::RtpPacket*)>& send);
		void Clear();

	private:
		struct Stream
		{
			uint64_t keyFrameAtMs{ 0u };
			uint32_t keyFrameTimestamp{ 0u };
			size_t bytes{ 0u };
			// Ordered by sequence number.
			std::vector<std::unique_ptr<RTC::RtpPacket>> packets;
		};

		static void Reset(Stream& stream);

	private:
		const uint32_t maxAgeMs;
		std::unordered_map<uint32_t, Stream> streams;
	};
} // namespace RTC

#endif
