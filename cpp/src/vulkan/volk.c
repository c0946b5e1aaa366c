/* volk's implementation comes from the system (Debian: libvulkan-volk-dev ships volk.c beside
 * volk.h); it is compiled into geyser_core so nothing links against the Vulkan loader. */
#include <volk.c>
