// File: section_check.h
//
// Checks decoders run on untrusted encodings beyond shapes and dtypes (Encoding::Require).
#ifndef QUANTD_CORE_COMMON_SECTION_CHECK_H_
#define QUANTD_CORE_COMMON_SECTION_CHECK_H_

#include "quantd/core/encoding.h"
#include "quantd/core/status.h"

namespace quantd {

// DATA_LOSS naming the section and the first offending element when a floating-point section
// (scales, codebooks, maxima, values kept unquantized) holds a non-finite value, or, with
// `non_negative`, a negative one. Encoders never store such values, so they mean corruption, and
// decoding them would return NaN weights. Sections of integer dtypes pass.
Status RequireFiniteValues(const Section& section, bool non_negative = false);

}  // namespace quantd

#endif  // QUANTD_CORE_COMMON_SECTION_CHECK_H_
