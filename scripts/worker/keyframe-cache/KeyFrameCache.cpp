// Floodlight addition to mediasoup's worker (copied in by scripts/worker/adapt.mjs).
#define MS_CLASS "RTC::KeyFrameCache"

#include "RTC/KeyFrameCache.hpp"
#include "Logger.hpp"
#include "RTC/SeqManager.hpp"
#include <cstdlib>
#include <string>

namespace RTC
{
	// Bounds whatever the age limit: a key frame plus a few seconds of 1080p.
	static constexpr size_t MaxPacketsPerStream{ 4000u };
	static constexpr size_t MaxBytesPerStream{ 4u * 1024u * 1024u };
	static constexpr uint32_t MaxAgeMsLimit{ 10000u };

	uint32_t KeyFrameCache::MaxAgeMsFromEnvironment()
	{
		MS_TRACE();

		static const uint32_t maxAgeMs = []() -> uint32_t
		{
			const char* value = std::getenv("FLOODLIGHT_KEYFRAME_CACHE_MS");

			if (value == nullptr || *value == '\0')
			{
				return 0u;
			}

			char* end{ nullptr };
			const unsigned long parsed = std::strtoul(value, &end, 10);

			if (*end != '\0' || parsed > MaxAgeMsLimit)
			{
				MS_WARN_TAG(
				  rtp,
				  "ignoring FLOODLIGHT_KEYFRAME_CACHE_MS=%s (expected 0..%" PRIu32 "), key frame cache off",
				  value,
				  MaxAgeMsLimit);

				return 0u;
			}

			return static_cast<uint32_t>(parsed);
		}();

		return maxAgeMs;
	}

	KeyFrameCache::KeyFrameCache(uint32_t maxAgeMs) : maxAgeMs(maxAgeMs)
	{
		MS_TRACE();
	}

	void KeyFrameCache::Insert(const RTC::RtpPacket* packet, uint64_t nowMs)
	{
		MS_TRACE();

		auto& stream   = this->streams[packet->GetSsrc()];
		const auto seq = packet->GetSequenceNumber();

		// The first packet of a newer key frame starts the cache afresh. (Other
		// packets of the same key frame, e.g. H264 fragments, carry its timestamp;
		// a late retransmission of an older key frame has a lower sequence number.)
		// clang-format off
		if (
			packet->IsKeyFrame() &&
			(
				stream.packets.empty() ||
				(
					packet->GetTimestamp() != stream.keyFrameTimestamp &&
					RTC::SeqManager<uint16_t>::IsSeqHigherThan(seq, stream.packets.back()->GetSequenceNumber())
				)
			)
		)
		// clang-format on
		{
			Reset(stream);

			stream.keyFrameAtMs      = nowMs;
			stream.keyFrameTimestamp = packet->GetTimestamp();
			stream.bytes             = packet->GetSize();
			stream.packets.emplace_back(packet->Clone());

			return;
		}

		// Waiting for a key frame.
		if (stream.packets.empty())
		{
			return;
		}

		// Too old or too big to be worth handing out: stop until the next key frame.
		// clang-format off
		if (
			nowMs - stream.keyFrameAtMs > this->maxAgeMs ||
			stream.packets.size() >= MaxPacketsPerStream ||
			stream.bytes + packet->GetSize() > MaxBytesPerStream
		)
		// clang-format on
		{
			Reset(stream);

			return;
		}

		// Keep sequence order: retransmissions (RTX) fill gaps after the fact.
		auto it = stream.packets.end();

		while (it != stream.packets.begin())
		{
			const auto previousSeq = (*(it - 1))->GetSequenceNumber();

			if (previousSeq == seq)
			{
				return; // Duplicate.
			}

			if (RTC::SeqManager<uint16_t>::IsSeqLowerThan(previousSeq, seq))
			{
				break;
			}

			--it;
		}

		// Older than the key frame: not needed.
		if (it == stream.packets.begin())
		{
			return;
		}

		stream.bytes += packet->GetSize();
		stream.packets.emplace(it, packet->Clone());
	}

	bool KeyFrameCache::Replay(
	  uint32_t mappedSsrc, uint64_t nowMs, const std::function<void(RTC::RtpPacket*)>& send)
	{
		MS_TRACE();

		auto it = this->streams.find(mappedSsrc);

		if (it == this->streams.end())
		{
			return false;
		}

		auto& stream = it->second;

		if (stream.packets.empty() || nowMs - stream.keyFrameAtMs > this->maxAgeMs)
		{
			return false;
		}

		// A gap (a packet lost and not yet retransmitted) would hand out a frame
		// the receiver cannot decode: ask the sender instead.
		for (size_t idx{ 1u }; idx < stream.packets.size(); ++idx)
		{
			const uint16_t expected = stream.packets[idx - 1]->GetSequenceNumber() + 1u;

			if (stream.packets[idx]->GetSequenceNumber() != expected)
			{
				MS_DEBUG_TAG(rtp, "not replaying key frame cache with a gap [ssrc:%" PRIu32 "]", mappedSsrc);

				return false;
			}
		}

		MS_DEBUG_TAG(
		  rtp,
		  "replaying key frame cache [ssrc:%" PRIu32 ", packets:%zu, ageMs:%" PRIu64 "]",
		  mappedSsrc,
		  stream.packets.size(),
		  nowMs - stream.keyFrameAtMs);

		// Packets are not removed or added while sending (the Producer is not
		// receiving), but a Consumer rewrites headers in place and restores them.
		for (auto& packet : stream.packets)
		{
			send(packet.get());
		}

		return true;
	}

	void KeyFrameCache::Clear()
	{
		MS_TRACE();

		this->streams.clear();
	}

	void KeyFrameCache::Reset(Stream& stream)
	{
		stream.packets.clear();
		stream.bytes             = 0u;
		stream.keyFrameAtMs      = 0u;
		stream.keyFrameTimestamp = 0u;
	}
} // namespace RTC
