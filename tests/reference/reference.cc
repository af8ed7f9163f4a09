// placeholder, replaced by the reference implementation
#include "tests/reference/reference.h"
