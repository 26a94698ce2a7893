// The registry of low-precision schemes: one stateless instance of each.
#include "low_scheme.hpp"

#include "scheme_int8_row.hpp"

namespace qstore {

const LowScheme* low_scheme(SchemeId id) {
    static const Int8RowScheme int8_row;
    switch (id) {
        case SchemeId::int8_row: return &int8_row;
        case SchemeId::passthrough: break;
    }
    return nullptr;
}

}  // namespace qstore
