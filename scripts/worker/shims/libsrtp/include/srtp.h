// Floodlight: libsrtp 3 API used by mediasoup 3.19, mapped onto Debian's libsrtp 2.5.
//
// libsrtp 3 protects/unprotects from an input buffer into a separate output
// buffer with size_t lengths and an MKI index; libsrtp 2 works in place with
// int lengths. mediasoup always passes mki_index 0. If mediasoup starts calling
// a libsrtp 3 function that is not mapped here, the worker fails to compile,
// which is the loud failure we want.
#ifndef FLOODLIGHT_SRTP3_ON_SRTP2_H
#define FLOODLIGHT_SRTP3_ON_SRTP2_H

#include <srtp2/srtp.h>

#ifdef __cplusplus
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>

// Error codes added in libsrtp 3 (values as in libsrtp 3's srtp.h).
#define srtp_err_status_buffer_small static_cast<srtp_err_status_t>(28)
#define srtp_err_status_cryptex_err static_cast<srtp_err_status_t>(29)

namespace floodlight_srtp_shim
{
	using Libsrtp2Fn = srtp_err_status_t (*)(srtp_t, void*, int*);

	inline srtp_err_status_t Run(
	  Libsrtp2Fn fn,
	  srtp_t ctx,
	  const uint8_t* in,
	  size_t inLen,
	  uint8_t* out,
	  size_t* outLen,
	  size_t trailerRoom)
	{
		// The output buffer must hold the input plus whatever libsrtp appends.
		if (*outLen < inLen + trailerRoom || inLen > static_cast<size_t>(INT_MAX))
		{
			return srtp_err_status_buffer_small;
		}

		if (out != in)
		{
			std::memmove(out, in, inLen);
		}

		int len = static_cast<int>(inLen);
		const srtp_err_status_t err = fn(ctx, out, &len);

		if (err == srtp_err_status_ok)
		{
			*outLen = static_cast<size_t>(len);
		}

		return err;
	}
} // namespace floodlight_srtp_shim

inline srtp_err_status_t srtp_protect(
  srtp_t ctx, const uint8_t* rtp, size_t rtpLen, uint8_t* srtp, size_t* srtpLen, size_t mkiIndex)
{
	if (mkiIndex != 0)
	{
		return srtp_err_status_bad_mki;
	}

	return floodlight_srtp_shim::Run(
	  static_cast<floodlight_srtp_shim::Libsrtp2Fn>(&::srtp_protect),
	  ctx,
	  rtp,
	  rtpLen,
	  srtp,
	  srtpLen,
	  SRTP_MAX_TRAILER_LEN);
}

inline srtp_err_status_t srtp_unprotect(
  srtp_t ctx, const uint8_t* srtp, size_t srtpLen, uint8_t* rtp, size_t* rtpLen)
{
	return floodlight_srtp_shim::Run(
	  static_cast<floodlight_srtp_shim::Libsrtp2Fn>(&::srtp_unprotect), ctx, srtp, srtpLen, rtp, rtpLen, 0);
}

inline srtp_err_status_t srtp_protect_rtcp(
  srtp_t ctx, const uint8_t* rtcp, size_t rtcpLen, uint8_t* srtcp, size_t* srtcpLen, size_t mkiIndex)
{
	if (mkiIndex != 0)
	{
		return srtp_err_status_bad_mki;
	}

	return floodlight_srtp_shim::Run(
	  static_cast<floodlight_srtp_shim::Libsrtp2Fn>(&::srtp_protect_rtcp),
	  ctx,
	  rtcp,
	  rtcpLen,
	  srtcp,
	  srtcpLen,
	  SRTP_MAX_TRAILER_LEN);
}

inline srtp_err_status_t srtp_unprotect_rtcp(
  srtp_t ctx, const uint8_t* srtcp, size_t srtcpLen, uint8_t* rtcp, size_t* rtcpLen)
{
	return floodlight_srtp_shim::Run(
	  static_cast<floodlight_srtp_shim::Libsrtp2Fn>(&::srtp_unprotect_rtcp),
	  ctx,
	  srtcp,
	  srtcpLen,
	  rtcp,
	  rtcpLen,
	  0);
}

inline srtp_err_status_t srtp_stream_remove(srtp_t ctx, uint32_t ssrc)
{
	return srtp_remove_stream(ctx, ssrc);
}
#endif // __cplusplus

#endif
