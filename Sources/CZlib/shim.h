// The system zlib (zlib1g-dev), for gzip backups.
#include <zlib.h>
