// Everything a C++ consumer of geyser::core needs.
#pragma once

#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/interrupt.hpp"
#include "geyser/formats.hpp"
#include "geyser/memory.hpp"
#include "geyser/types.hpp"
#include "geyser/unique_fd.hpp"
#include "geyser/sync.hpp"
#include "geyser/channel.hpp"
#include "geyser/wire.hpp"
#include "geyser/portable_timeline.hpp"
#include "geyser/timeline.hpp"
#include "geyser/sender.hpp"
#include "geyser/cuda.hpp"
#include "geyser/gpu_topology.hpp"
#include "geyser/peer_copy.hpp"
