// The library version, taken from the public header (its single source of truth).
#pragma once

#include "qstore/qstore.h"

namespace qstore {

#define QSTORE_STR2(x) #x
#define QSTORE_STR(x) QSTORE_STR2(x)
inline const char* version_string() {
    return QSTORE_STR(QS_VERSION_MAJOR) "." QSTORE_STR(QS_VERSION_MINOR) "." QSTORE_STR(QS_VERSION_PATCH);
}
#undef QSTORE_STR
#undef QSTORE_STR2

}  // namespace qstore
